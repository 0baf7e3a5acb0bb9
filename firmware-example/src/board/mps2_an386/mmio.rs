//! 32-bit memory-mapped registers at fixed addresses: the only raw pointer access the drivers
//! need. A [`Block`] is created only with a peripheral's base address from the board's memory
//! map (its constructor is `const` and private to this board), so reads and writes stay inside
//! that peripheral's register window.

/// A peripheral's register window.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    base: usize,
}

impl Block {
    /// The peripheral at `base` (an address from the board's memory map).
    pub const fn at(base: usize) -> Self {
        Self { base }
    }

    /// Reads the register at byte `offset`.
    #[allow(unsafe_code, reason = "volatile MMIO read; see SAFETY")]
    pub fn read(self, offset: usize) -> u32 {
        // SAFETY: every `Block` is built from a peripheral base address of this board, and the
        // drivers use only register offsets inside that peripheral's window; the address is
        // word-aligned and the device accepts 32-bit reads.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes the register at byte `offset`.
    #[allow(unsafe_code, reason = "volatile MMIO write; see SAFETY")]
    pub fn write(self, offset: usize, value: u32) {
        // SAFETY: as for `read`; writes to these registers only change the peripheral's state,
        // never memory the program owns.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}
