//! btrfs tree blocks (btrfs documentation, "On-disk Format": header, leaf
//! items, node key pointers) and a walk over every block of one tree.

use super::chunks::ChunkMap;
use crate::disk::{le32, le64, read_vec, ReadAt};

/// The header before a block's items: csum, fsid, bytenr, flags,
/// chunk_tree_uuid, generation, owner, nritems, level.
pub const HEADER: usize = 0x65;
/// A leaf item: key (objectid, type, offset), data offset, data size.
const ITEM: usize = 25;
/// A node's key pointer: key, block pointer, generation.
const KEY_PTR: usize = 33;
/// `BTRFS_MAX_LEVEL`.
pub const MAX_LEVEL: u8 = 8;

/// What the walk needs to know of the filesystem to read its blocks.
pub struct Reader<'a> {
    pub disk: &'a dyn ReadAt,
    pub offset: u64,
    pub device_size: u64,
    pub nodesize: u64,
    /// The UUID every tree block carries: the metadata UUID, or the fsid.
    pub fsid: [u8; 16],
    /// Only crc32c (checksum type 0) is checked; other types are read
    /// unchecked, with the header's own fields as the guard.
    pub crc32c: bool,
    pub map: &'a ChunkMap,
    /// Blocks left to read before the walk stops: repeated pointers in a
    /// damaged tree cannot make it read more than the device holds.
    pub budget: u64,
}

/// One leaf item: its key and its data.
pub struct Item<'b> {
    pub objectid: u64,
    pub kind: u8,
    pub offset: u64,
    pub data: &'b [u8],
}

impl Reader<'_> {
    /// Reads the tree block at `logical`, trying each copy until one passes
    /// its checks.
    fn block(&mut self, logical: u64, level: u8) -> Result<Vec<u8>, String> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or("the trees hold more blocks than the device")?;
        let mut last = String::new();
        for phys in self.map.first(logical)? {
            if phys + self.nodesize > self.device_size {
                last = format!("tree block {logical} maps past the device's end");
                continue;
            }
            let b = read_vec(self.disk, self.offset + phys, self.nodesize as usize)
                .map_err(|e| e.to_string())?;
            match self.check(&b, logical, level) {
                Ok(()) => return Ok(b),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn check(&self, b: &[u8], logical: u64, level: u8) -> Result<(), String> {
        if self.crc32c && crc32c::crc32c(&b[0x20..]) != le32(b, 0) {
            return Err(format!("tree block {logical} fails its checksum"));
        }
        if b[0x20..0x30] != self.fsid {
            return Err(format!(
                "tree block {logical} belongs to another filesystem"
            ));
        }
        if le64(b, 0x30) != logical {
            return Err(format!(
                "tree block {logical} says it is block {}",
                le64(b, 0x30)
            ));
        }
        if b[0x64] != level {
            return Err(format!(
                "tree block {logical} is at level {}, expected {level}",
                b[0x64]
            ));
        }
        Ok(())
    }

    /// Visits every block of the tree rooted at `root` (with its logical
    /// address and size) and every leaf item.
    pub fn walk(
        &mut self,
        root: u64,
        level: u8,
        visit: &mut dyn FnMut(&mut Self, Visit<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        if level >= MAX_LEVEL {
            return Err(format!("tree at {root} claims level {level}"));
        }
        let b = self.block(root, level)?;
        visit(self, Visit::Block(root))?;
        let count = le32(&b, 0x60) as usize;
        let size = if level == 0 { ITEM } else { KEY_PTR };
        if HEADER + count * size > b.len() {
            return Err(format!("tree block {root} claims {count} items"));
        }
        for i in 0..count {
            let at = HEADER + i * size;
            if level > 0 {
                self.walk(le64(&b, at + 17), level - 1, visit)?;
                continue;
            }
            let (data_at, data_len) = (le32(&b, at + 17) as usize, le32(&b, at + 21) as usize);
            let data = b
                .get(HEADER + data_at..HEADER + data_at + data_len)
                .ok_or_else(|| format!("item {i} of tree block {root} lies outside it"))?;
            visit(
                self,
                Visit::Item(Item {
                    objectid: le64(&b, at),
                    kind: b[at + 8],
                    offset: le64(&b, at + 9),
                    data,
                }),
            )?;
        }
        Ok(())
    }
}

/// What a walk shows its visitor.
pub enum Visit<'b> {
    /// A tree block, by logical address.
    Block(u64),
    Item(Item<'b>),
}
