//! DHCPv4 for network boot: the packet codec ([`Packet`]), the parsed view of
//! a client's request ([`Request`]), the boot-service policy
//! ([`decide`]), architecture dispatch ([`Arch`]) and the address pool
//! ([`Pool`]).

mod arch;
mod decide;
mod pool;
mod scopes;
mod wire;

pub use arch::{arch_from_vendor_class, Arch};
pub use decide::{
    decide, Arrival, BootFiles, ClientKind, Decision, IgnoreReason, Mode, Network, Reply, Request,
    Site, UefiChain, IPXE_NO_PXEDHCP,
};
pub use pool::{Lease, Pool, DECLINE_HOLD_SECS, OFFER_HOLD_SECS};
pub use scopes::{Scope, Scopes, Subnet};
pub use wire::{
    code, DhcpOption, MessageType, Packet, MAGIC_COOKIE, MIN_LEN, OP_REPLY, OP_REQUEST,
};
