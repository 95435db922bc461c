//! The operating-system calls live mode needs and std does not offer:
//! read `CLOCK_MONOTONIC` as a number every process on the machine agrees
//! on, send SIGSTOP / SIGCONT / SIGKILL to a process or a process group, and ask the kernel to SIGKILL a
//! child when the coordinator dies (`PR_SET_PDEATHSIG`). Declared directly
//! against the C library std already links, so no crate is added.
//!
//! Linux only ([`SUPPORTED`]); elsewhere live mode refuses to run.

/// Whether this platform has what live mode needs.
pub const SUPPORTED: bool = cfg!(target_os = "linux");

/// A signal to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Stop,
    Cont,
    Kill,
}

#[cfg(target_os = "linux")]
mod imp {
    use super::Signal;
    use std::os::raw::{c_int, c_long, c_ulong};

    #[repr(C)]
    struct Timespec {
        tv_sec: c_long,
        tv_nsec: c_long,
    }

    extern "C" {
        fn clock_gettime(clock: c_int, tp: *mut Timespec) -> c_int;
        fn kill(pid: c_int, sig: c_int) -> c_int;
        fn prctl(
            option: c_int,
            arg2: c_ulong,
            arg3: c_ulong,
            arg4: c_ulong,
            arg5: c_ulong,
        ) -> c_int;
    }

    const CLOCK_MONOTONIC: c_int = 1;
    const PR_SET_PDEATHSIG: c_int = 1;
    const SIGKILL: c_int = 9;
    const SIGCONT: c_int = 18;
    const SIGSTOP: c_int = 19;

    pub fn mono_ns() -> u64 {
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
        let rc = unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    pub fn signal(pid: u32, sig: Signal) -> std::io::Result<()> {
        let sig = match sig {
            Signal::Stop => SIGSTOP,
            Signal::Cont => SIGCONT,
            Signal::Kill => SIGKILL,
        };
        let pid = c_int::try_from(pid).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        if pid <= 0 {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        // SAFETY: plain syscall on a positive pid (never a process group).
        if unsafe { kill(pid, sig) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    pub fn signal_group(pgid: u32, sig: Signal) -> std::io::Result<()> {
        let sig = match sig {
            Signal::Stop => SIGSTOP,
            Signal::Cont => SIGCONT,
            Signal::Kill => SIGKILL,
        };
        let pgid = c_int::try_from(pgid).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        if pgid <= 1 {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        // SAFETY: plain syscall on a negative pid: the process group
        // `pgid` (> 1, never our own group: children get their own).
        if unsafe { kill(-pgid, sig) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    pub fn die_with_parent() -> std::io::Result<()> {
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and only
        // affects the calling (freshly forked) process.
        if unsafe { prctl(PR_SET_PDEATHSIG, SIGKILL as c_ulong, 0, 0, 0) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Signal;

    pub fn mono_ns() -> u64 {
        // Not shared between processes here; live mode refuses to run.
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }

    pub fn signal(_pid: u32, _sig: Signal) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    pub fn signal_group(_pgid: u32, _sig: Signal) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    pub fn die_with_parent() -> std::io::Result<()> {
        Ok(())
    }
}

/// `CLOCK_MONOTONIC` in ns: the same reading in every process of the machine.
pub fn mono_ns() -> u64 {
    imp::mono_ns()
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: Signal) -> std::io::Result<()> {
    imp::signal(pid, sig)
}

/// Sends `sig` to every process of process group `pgid` (a child started
/// with `process_group(0)`: its pid). A `--client` program may be a
/// wrapper (`npx`, a shell script) whose workers must stop with it.
pub fn signal_group(pgid: u32, sig: Signal) -> std::io::Result<()> {
    imp::signal_group(pgid, sig)
}

/// Called in a child between fork and exec: SIGKILL it if the coordinator
/// dies (even by SIGKILL), so no redis-server or client outlives a run.
pub fn die_with_parent() -> std::io::Result<()> {
    imp::die_with_parent()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_shared_monotonic_clock_advances_like_instant() {
        let (a, i) = (mono_ns(), std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (b, d) = (mono_ns(), i.elapsed().as_nanos() as u64);
        assert!(b > a);
        assert!((b - a).abs_diff(d) < 5_000_000, "{} vs {d}", b - a);
    }

    #[test]
    fn stop_and_cont_reach_a_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep runs");
        signal(child.id(), Signal::Stop).unwrap();
        signal(child.id(), Signal::Cont).unwrap();
        signal(child.id(), Signal::Kill).unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
    }
}
