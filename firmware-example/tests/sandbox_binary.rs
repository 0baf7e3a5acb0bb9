//! The README's main command, for real: `ddlink-firmware-example --sandbox --devices 2
//! --duration 5` starts the whole world, runs two devices and ends with a summary line showing
//! both provisioned and nothing lost (exit status 0).

use std::process::Command;

#[test]
fn sandbox_mode_ends_with_a_clean_summary() {
    let output = Command::new(env!("CARGO_BIN_EXE_ddlink-firmware-example"))
        .args(["--sandbox", "--devices", "2", "--duration", "5"])
        .output()
        .expect("running the simulator binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summaries: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("summary:"))
        .collect();
    assert_eq!(
        summaries.len(),
        1,
        "exactly one summary line\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let field = |name: &str| -> u64 {
        summaries[0]
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {:?}", summaries[0]))
    };
    assert_eq!(field("devices"), 2, "{stdout}");
    assert_eq!(field("provisioned"), 2, "{stdout}");
    assert_eq!(field("lost"), 0, "{stdout}\n{stderr}");
    assert_eq!(field("misrouted"), 0, "{stdout}\n{stderr}");
    assert!(field("points_sent") > 0, "{stdout}");
    assert_eq!(field("points_accepted"), field("points_sent"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("consent: connected")),
        "the consent step is reported: {stdout}"
    );
    assert!(
        output.status.success(),
        "exit status {:?}\n{stdout}\n{stderr}",
        output.status
    );
}
