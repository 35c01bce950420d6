//! The one place this crate calls the C library itself.

#![allow(unsafe_code)]

use std::ffi::c_int;

extern "C" {
    /// glibc's `malloc_trim(3)`.
    fn malloc_trim(pad: usize) -> c_int;
}

/// Gives the heap's free pages back to the kernel. glibc keeps freed
/// memory in its arenas for reuse, and after a burst of large request
/// bodies that is the burst's high-water mark, for good; the server calls
/// this when such a burst is over.
pub fn release_free_memory() {
    // SAFETY: malloc_trim takes no pointers and only returns pages no
    // allocation uses; glibc takes each arena's lock while it works, so it
    // is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}

/// Unix seconds of a local civil time, by the C library's `mktime(3)`,
/// which knows the machine's zone and its daylight-saving rules; `None`
/// when the time does not exist there.
pub fn local_time(year: i32, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> Option<i64> {
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a
    // valid value; mktime reads and normalizes the one we own and keeps
    // no pointer to it.
    let t = unsafe {
        let mut tm: nix::libc::tm = std::mem::zeroed();
        tm.tm_year = year - 1900;
        tm.tm_mon = month as i32 - 1;
        tm.tm_mday = day as i32;
        tm.tm_hour = hour as i32;
        tm.tm_min = min as i32;
        tm.tm_sec = sec as i32;
        tm.tm_isdst = -1;
        nix::libc::mktime(&mut tm)
    };
    (t != -1).then_some(t)
}

/// Binds `ip` to `mac` in the kernel's ARP table on interface `dev`
/// (`SIOCSARP`, arp(7)), so that a datagram to `ip` reaches a DHCP client
/// that has no address yet to answer ARP with (RFC 2131 §4.1). The entry is
/// an ordinary complete one (`ATF_COM`), which the kernel ages out. Needs
/// `CAP_NET_ADMIN`.
pub fn set_neighbour(
    socket: &impl std::os::fd::AsRawFd,
    dev: &str,
    ip: std::net::Ipv4Addr,
    mac: [u8; 6],
) -> std::io::Result<()> {
    use nix::libc;
    if dev.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("interface name {dev:?} is too long"),
        ));
    }
    // SAFETY: arpreq is plain data, for which all zeros is valid; the
    // sockaddr_in is written into the sockaddr it is the IPv4 form of, as
    // arp(7) says; the ioctl reads the struct and keeps no pointer to it.
    unsafe {
        let mut req: libc::arpreq = std::mem::zeroed();
        let pa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        std::ptr::write(
            std::ptr::addr_of_mut!(req.arp_pa).cast::<libc::sockaddr_in>(),
            pa,
        );
        req.arp_ha.sa_family = libc::ARPHRD_ETHER;
        for (d, b) in req.arp_ha.sa_data.iter_mut().zip(mac) {
            *d = b as libc::c_char;
        }
        req.arp_flags = libc::ATF_COM;
        for (d, b) in req.arp_dev.iter_mut().zip(dev.bytes()) {
            *d = b as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSARP, &req) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether the kernel considers the clock synchronized: `adjtimex(2)`
/// returns `TIME_ERROR` while it is not (an NTP daemon clears it). `None`
/// when the call fails.
pub fn clock_synchronized() -> Option<bool> {
    use nix::libc;
    // SAFETY: timex is plain data; with modes 0, adjtimex only reads the
    // kernel's state into the struct we own.
    let state = unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        libc::adjtimex(&mut t)
    };
    (state >= 0).then_some(state != libc::TIME_ERROR)
}

/// Bytes an unprivileged writer may still use, and the size, of the
/// filesystem holding `path` (which must exist). Root's reserved blocks do
/// not count: the service does not run as root.
pub fn filesystem_space(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let s = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let frag = s.fragment_size() as u64;
    Ok((s.blocks_available() as u64 * frag, s.blocks() as u64 * frag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_space_of_a_real_folder_is_read_and_a_missing_one_named_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (free, total) = filesystem_space(dir.path()).unwrap();
        assert!(free > 0 && total >= free);
        assert!(filesystem_space(&dir.path().join("missing")).is_err());
    }
}
