//! Which process holds a port: `/proc/net/{udp,tcp}` give each socket's
//! local port and inode (proc(5)), and `/proc/PID/fd` links name
//! `socket:[INODE]`.

use std::path::Path;

/// One socket of `/proc/net/udp` or `/proc/net/tcp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub local_port: u16,
    /// The kernel's TCP state (0A is LISTEN); UDP sockets show 07.
    pub state: u8,
    pub inode: u64,
}

/// Parses the table; the header and lines that do not parse are skipped.
pub fn parse(table: &str) -> Vec<Socket> {
    table.lines().skip(1).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Socket> {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    let f: Vec<&str> = line.split_whitespace().collect();
    let (_, port) = f.get(1)?.split_once(':')?;
    Some(Socket {
        local_port: u16::from_str_radix(port, 16).ok()?,
        state: u8::from_str_radix(f.get(3)?, 16).ok()?,
        inode: f.get(9)?.parse().ok()?,
    })
}

/// TCP's LISTEN state in `/proc/net/tcp`.
pub const TCP_LISTEN: u8 = 0x0A;

/// The process holding socket `inode`: its pid and `comm`.
pub fn owner(proc_root: &Path, inode: u64) -> Option<(u32, String)> {
    let wanted = format!("socket:[{inode}]");
    for entry in std::fs::read_dir(proc_root).ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == wanted.as_str())
        });
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            return Some((pid, comm.trim().to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as Linux 6.1 prints them (dnsmasq on 67 and 69, a listener on
    /// 8080), with a malformed one.
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  765: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123456 2 0000000000000000 0
  767: 0100000A:0045 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123457 2 0000000000000000 0
  999: garbage
";
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55555 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn tables_parse_into_ports_states_and_inodes() {
        assert_eq!(
            parse(UDP),
            vec![
                Socket {
                    local_port: 67,
                    state: 7,
                    inode: 123456
                },
                Socket {
                    local_port: 69,
                    state: 7,
                    inode: 123457
                },
            ]
        );
        assert_eq!(
            parse(TCP),
            vec![Socket {
                local_port: 8080,
                state: TCP_LISTEN,
                inode: 55555
            }]
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn the_owner_of_one_of_our_own_sockets_is_this_process() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let table = std::fs::read_to_string("/proc/net/udp").unwrap();
        let ours = parse(&table)
            .into_iter()
            .find(|s| s.local_port == port)
            .unwrap();
        let (pid, _) = owner(Path::new("/proc"), ours.inode).unwrap();
        assert_eq!(pid, std::process::id());
    }
}
