//! `--net loopback`: the loopback interface of the sandbox's own network
//! namespace brought up, as `ip link set lo up` does (`SIOCGIFFLAGS`, then
//! `SIOCSIFFLAGS` with `IFF_UP`, on a datagram socket). The namespace
//! holds no other interface, so what listens inside (a TCPStore bound to
//! the wildcard, as torch binds it) is reachable from inside only.
//!
//! `unsafe`: the two `ioctl` calls, which `nix` does not wrap, and the
//! union member they read and write.

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

use crate::SetupError;

/// Bring up `lo` in the calling process's network namespace.
pub fn loopback_up() -> Result<(), SetupError> {
    let err = |step| move |source| SetupError::Loopback { step, source };
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(err("socket"))?;
    // SAFETY: `ifreq` is plain data (a name and a union of integers,
    // addresses and a pointer): all zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags member of
    // `req`, which lives across the call; the descriptor is open.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
    Errno::result(rc).map_err(err("SIOCGIFFLAGS"))?;
    // SAFETY: the kernel just wrote the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the name and flags of `req`, which lives
    // across the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) };
    Errno::result(rc).map_err(err("SIOCSIFFLAGS"))?;
    Ok(())
}
