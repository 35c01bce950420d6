//! Partition tables and filesystem allocation maps from arbitrary bytes.
#![no_main]

use image_format::capture::plan_regions;
use image_format::disk::MemDisk;
use image_format::layout::read_layout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let disk = MemDisk::new(data.to_vec());
    if let Ok(layout) = read_layout(&disk) {
        let _ = plan_regions(&disk, &layout);
    }
});
