#!/usr/bin/env python3
"""Writes the hand-made DHCP and TFTP fixtures under this directory.

The request fixtures reproduce what the firmware in docs/boot.md was seen to
send (options 93, 60, 77, 175, 97 and their values); the malformed fixtures
each carry one defect, named by the file. Run again only to add fixtures:
the golden replies under dhcp/golden/ are checked against these bytes.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAC = bytes([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])


def dhcp(options, op=1, htype=1, hlen=6, xid=0x1A2B3C4D, flags=0x8000, ciaddr=b"\0" * 4,
         giaddr=b"\0" * 4, hops=0, magic=b"\x63\x82\x53\x63", end=True, pad_to=300):
    hdr = struct.pack("!BBBBIHH", op, htype, hlen, hops, xid, 4, flags)
    hdr += ciaddr + b"\0" * 4 + b"\0" * 4 + giaddr
    hdr += MAC + b"\0" * 10 + b"\0" * 64 + b"\0" * 128
    body = magic
    for code, data in options:
        body += bytes([code, len(data)]) + data
    if end:
        body += b"\xff"
    pkt = hdr + body
    if end and len(pkt) < pad_to:
        pkt += b"\0" * (pad_to - len(pkt))
    return pkt


def write(rel, data):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


DISCOVER = (53, b"\x01")
REQUEST = (53, b"\x03")
PRL = (55, bytes([1, 3, 6, 12, 15, 17, 43, 60, 66, 67, 119, 128, 129, 130, 175, 203]))
UUID_ZERO = (97, b"\0" * 17)
UUID_SET = (97, b"\0" + bytes.fromhex("78563412 3412 7856 9abc def012345678".replace(" ", "")))
IPXE_175 = (175, bytes([177, 5, 1, 0x10, 0xEC, 0x81, 0x39, 235, 3, 1, 0, 0, 23, 1, 1, 19, 1, 1, 17, 1, 1, 39, 1, 1, 25, 1, 1, 16, 1, 2, 33, 1, 1, 21, 1, 1, 24, 1, 1, 18, 1, 1]))

# QEMU's e1000 iPXE ROM under SeaBIOS: iPXE from the first packet.
write("dhcp/requests/ipxe_bios_discover.bin", dhcp([
    DISCOVER, (57, b"\x05\xdc"), (93, b"\0\0"), (94, b"\x01\x02\x01"),
    (60, b"PXEClient:Arch:00000:UNDI:002001"), (77, b"iPXE"), PRL, IPXE_175, UUID_ZERO]))
# OVMF's own EDK2 PXE: arch 7, no user class.
write("dhcp/requests/edk2_x64_discover.bin", dhcp([
    DISCOVER, (57, b"\x05\xc0"), PRL, (97, UUID_SET[1]), (94, b"\x01\x03\x00"),
    (93, b"\0\x07"), (60, b"PXEClient:Arch:00007:UNDI:003000")]))
# iPXE's EFI build (NIC ROM under OVMF, or a chainloaded ipxe.efi).
write("dhcp/requests/ipxe_efi_discover.bin", dhcp([
    DISCOVER, (93, b"\0\x07"), (60, b"PXEClient:Arch:00007:UNDI:003010"), (77, b"iPXE"), PRL, IPXE_175]))
# UEFI HTTP boot client (x64, IANA 16).
write("dhcp/requests/http_x64_discover.bin", dhcp([
    DISCOVER, (93, b"\0\x10"), (60, b"HTTPClient:Arch:00016:UNDI:003001"), PRL]))
# A plain DHCP client (busybox udhcpc).
write("dhcp/requests/plain_discover.bin", dhcp([
    DISCOVER, (61, b"\x01" + MAC), (60, b"udhcp 1.35.0"), (55, bytes([1, 3, 6, 12, 15, 28, 42]))]))
write("dhcp/requests/plain_request.bin", dhcp([
    REQUEST, (61, b"\x01" + MAC), (50, bytes([10, 0, 0, 100])), (54, bytes([10, 0, 0, 1])),
    (55, bytes([1, 3, 6, 12, 15, 28, 42]))]))
# A BIOS PXE ROM behind a relay (dhcrelay sets giaddr and hops).
write("dhcp/requests/relayed_bios_discover.bin", dhcp([
    DISCOVER, (93, b"\0\0"), (60, b"PXEClient:Arch:00000:UNDI:002001")],
    giaddr=bytes([10, 9, 0, 1]), hops=1, flags=0))
# EDK2 boot server discovery: REQUEST unicast to port 4011.
write("dhcp/requests/edk2_x64_request_4011.bin", dhcp([
    REQUEST, (93, b"\0\x07"), (60, b"PXEClient:Arch:00007:UNDI:003000"), (43, b"\x47\x04\x80\x00\x00\x00\xff")],
    ciaddr=bytes([10, 0, 0, 100]), flags=0))

# Malformed: one defect each, named by the file.
good = dhcp([DISCOVER, (93, b"\0\0"), (60, b"PXEClient:Arch:00000:UNDI:002001")])
write("dhcp/malformed/empty.bin", b"")
write("dhcp/malformed/truncated_header.bin", good[:100])
write("dhcp/malformed/truncated_before_magic_cookie.bin", good[:238])
write("dhcp/malformed/bad_magic_cookie.bin", dhcp([DISCOVER], magic=b"\x63\x82\x53\x64"))
write("dhcp/malformed/option_length_past_end.bin", good[:240] + bytes([53, 1, 1, 60, 200]) + b"PXEClient")
write("dhcp/malformed/option_without_length_byte.bin", good[:240] + bytes([53, 1, 1, 60]))
write("dhcp/malformed/missing_end_option.bin", dhcp([DISCOVER], end=False))
write("dhcp/malformed/bootreply_not_request.bin", dhcp([DISCOVER], op=2))
write("dhcp/malformed/token_ring_htype.bin", dhcp([DISCOVER], htype=6))
write("dhcp/malformed/zero_hlen.bin", dhcp([DISCOVER], hlen=0))
write("dhcp/malformed/option_overload.bin", dhcp([DISCOVER, (52, b"\x03")]))
write("dhcp/malformed/no_message_type.bin", dhcp([(93, b"\0\0")]))

write("tftp/malformed/empty.bin", b"")
write("tftp/malformed/one_byte.bin", b"\x00")
write("tftp/malformed/unknown_opcode_9.bin", b"\x00\x09abc\x00")
write("tftp/malformed/rrq_unterminated_filename.bin", b"\x00\x01undionly.kpxe")
write("tftp/malformed/rrq_unterminated_mode.bin", b"\x00\x01undionly.kpxe\x00octet")
write("tftp/malformed/rrq_mail_mode.bin", b"\x00\x01undionly.kpxe\x00mail\x00")
write("tftp/malformed/rrq_duplicate_option.bin", b"\x00\x01f\x00octet\x00tsize\x000\x00TSIZE\x000\x00")
write("tftp/malformed/rrq_option_without_value.bin", b"\x00\x01f\x00octet\x00blksize")
write("tftp/malformed/rrq_non_utf8_filename.bin", b"\x00\x01\xff\xfe\x00octet\x00")
write("tftp/malformed/ack_truncated.bin", b"\x00\x04\x00")
write("tftp/malformed/data_truncated.bin", b"\x00\x03\x01")

# Multicast frames (docs/multicast.md), built here from the documented
# layout rather than by the code under test.
IMAGE = bytes(range(32))
CHUNK = bytes(range(100, 132))


def mc_head(kind, session=0x0102030405060708, version=1, flags=0, magic=b"MRWC", image=IMAGE):
    return magic + bytes([version, kind]) + struct.pack("!HQ", flags, session) + image


def mc_symbol(symbol=bytes(range(256)) * 5 + bytes(88), index=7, chunk_len=3000, esi=2, seq=99, **head):
    return mc_head(1, **head) + struct.pack("!I", index) + CHUNK + struct.pack("!IIQ", chunk_len, esi, seq) + symbol


def mc_announce(seq=1234, cycle=3, chunks=500, t=1368, state=1, reserved=0, rate=400000, **head):
    return mc_head(2, **head) + struct.pack("!QIIHBBI", seq, cycle, chunks, t, state, reserved, rate)


write("multicast/golden/symbol.bin", mc_symbol())
write("multicast/golden/announce_ending.bin", mc_announce(state=2))
write("multicast/malformed/empty.bin", b"")
write("multicast/malformed/truncated_head.bin", mc_symbol()[:47])
write("multicast/malformed/bad_magic.bin", mc_symbol(magic=b"MRWD"))
write("multicast/malformed/version_2.bin", mc_symbol(version=2))
write("multicast/malformed/unknown_kind_3.bin", mc_head(3) + bytes(60))
write("multicast/malformed/flags_set.bin", mc_symbol(flags=1))
write("multicast/malformed/symbol_without_payload.bin", mc_symbol(symbol=b""))
write("multicast/malformed/symbol_not_aligned.bin", mc_symbol(symbol=bytes(13)))
write("multicast/malformed/zero_chunk_length.bin", mc_symbol(chunk_len=0))
write("multicast/malformed/chunk_over_4_mib.bin", mc_symbol(chunk_len=(4 << 20) + 1))
write("multicast/malformed/too_many_source_symbols.bin", mc_symbol(symbol=bytes(8), chunk_len=4 << 20))
write("multicast/malformed/esi_over_24_bits.bin", mc_symbol(esi=1 << 24))
write("multicast/malformed/announce_too_long.bin", mc_announce() + b"\0")
write("multicast/malformed/announce_state_0.bin", mc_announce(state=0))
write("multicast/malformed/announce_reserved_set.bin", mc_announce(reserved=1))
write("multicast/malformed/announce_symbol_size_0.bin", mc_announce(t=0))

# Site sync chunk batches (docs/sync.md): records of a 32-byte chunk id, a
# big-endian u32 length and that many stored bytes, one after another.


def record(chunk_id, data):
    return chunk_id + struct.pack("!I", len(data)) + data


write("sync/golden/batch.bin", record(IMAGE, b"first") + record(CHUNK, b"") + record(bytes(32), bytes(range(200))))
write("sync/malformed/length_over_8_mib.bin", record(IMAGE, b"") [:32] + struct.pack("!I", (8 << 20) + 1))
write("sync/malformed/cut_inside_a_record.bin", record(IMAGE, b"abcdef")[:-2])
write("sync/malformed/cut_inside_a_header.bin", record(IMAGE, b"abcdef") + record(CHUNK, b"x")[:20])
