//! Lines from a terminal without the kernel's cap: in canonical mode a
//! terminal keeps at most 4,095 bytes of a line and drops the rest, so a
//! pasted long message would arrive cut (and a refusal would report the
//! wrong length). While a line is read, canonical mode and echo are off
//! (signals stay on: Ctrl-C still interrupts) and this does the little
//! editing the kernel did: Backspace, Ctrl-U, Ctrl-D on an empty line (end
//! of input). The settings are restored after each line.

use std::io::{Read, Write};

/// The terminal's settings, restored when dropped.
struct NonCanonical {
    saved: libc::termios,
}

impl NonCanonical {
    fn enter() -> std::io::Result<Self> {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios we own.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut raw = saved;
            raw.c_lflag &= !(libc::ICANON | libc::ECHO);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Self { saved })
        }
    }
}

impl Drop for NonCanonical {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

/// Whether standard input is a terminal (then [`read_line`] is used).
pub fn is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// One line from the terminal, of any length (`None`: end of input).
/// Blocking: run it off the async runtime.
pub fn read_line() -> std::io::Result<Option<String>> {
    let _mode = NonCanonical::enter()?;
    let mut stdin = std::io::stdin().lock();
    let mut out = std::io::stdout();
    let mut line: Vec<u8> = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if stdin.read(&mut byte)? == 0 {
            return Ok((!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        match byte[0] {
            b'\n' | b'\r' => {
                out.write_all(b"\n")?;
                out.flush()?;
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            // Ctrl-D on an empty line: end of input.
            0x04 if line.is_empty() => return Ok(None),
            // Backspace / Delete: one character (all of its UTF-8 bytes).
            0x7f | 0x08 => {
                let cut = pop_char(&mut line);
                for _ in 0..cut {
                    out.write_all(b"\x08 \x08")?;
                }
            }
            // Ctrl-U: the whole line.
            0x15 => {
                while pop_char(&mut line) > 0 {
                    out.write_all(b"\x08 \x08")?;
                }
            }
            b if b < 0x20 && b != b'\t' => {}
            b => {
                line.push(b);
                out.write_all(&[b])?;
            }
        }
        out.flush()?;
    }
}

/// Remove the last character; the columns it took (0 when empty).
fn pop_char(line: &mut Vec<u8>) -> usize {
    let Some(start) = (0..line.len())
        .rev()
        .find(|&i| line[i] & 0b1100_0000 != 0b1000_0000)
    else {
        line.clear();
        return 0;
    };
    let c = String::from_utf8_lossy(&line[start..]).chars().next();
    line.truncate(start);
    match c {
        // Hangul, CJK and full-width forms take two columns.
        Some(c) if matches!(u32::from(c), 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6) => {
            2
        }
        Some(_) => 1,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backspace_removes_a_whole_character() {
        let mut line = "a한".as_bytes().to_vec();
        assert_eq!(pop_char(&mut line), 2);
        assert_eq!(line, b"a");
        assert_eq!(pop_char(&mut line), 1);
        assert_eq!(pop_char(&mut line), 0);
        assert!(line.is_empty());
    }
}
