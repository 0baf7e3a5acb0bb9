//! A fresh PostgreSQL schema name per test, so concurrent tests and runs can share a database.

/// `prefix_` followed by 12 random lowercase letters and digits (a valid unquoted identifier).
pub fn fresh(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        ddlink_gateway::crypto::random_token(9)
            .unwrap()
            .to_lowercase()
            .replace(['-', '_'], "x")
    )
}

/// Drops a schema made for a test, with everything in it.
pub async fn drop<'e, E: sqlx::Executor<'e>>(executor: E, schema: &str) {
    executor
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA \"{schema}\" CASCADE"
        )))
        .await
        .unwrap();
}
