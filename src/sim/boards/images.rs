//! The EEPROM image a simulated board answers with: a real unit's dump where one exists, else
//! a valid image built from the board row's identity (a Digilent block with Digilent's OEM id,
//! a firmware class and the product name, or a Xilinx `program_ftdi` block with vendor and
//! board string), with the header and checksum an FTDI chip checks.
//!
//! Exists so the agent's EEPROM identification meets every board the way it meets hardware.
//! Pure: a row in, 256 bytes out.

use crate::ftdi::chip;
use crate::ftdi::identify::boards::{Board, Key};
use crate::ftdi::identify::eeprom::dumps;
use crate::ftdi::identify::eeprom::{checksum, Chip, DIGILENT_OEM_ID, IMAGE_LEN};

/// Firmware class given to a Digilent row whose sources name none: not one of the classes with
/// a DPTI FIFO (0x55, 0x56, 0x59, 0x60, 0x62), and not the class of any row.
pub const NEUTRAL_CLASS: u8 = 0x61;

/// Where the string descriptors would start (the end of the user area), as in the dumps of a
/// 93C56 whose header points there.
const STRINGS_AT: u8 = 0xA0;

/// The image of board row `row` (`index`: its position in the table, for a distinct board id).
pub fn image_for(row: &Board, index: usize) -> [u8; IMAGE_LEN] {
    match row.name {
        "hs2" => return dumps::HS2,
        "smt1" => return dumps::SMT1,
        "pynq-z2" => return dumps::PYNQ_Z2,
        "vcu1525" => return dumps::VCU1525,
        "minized" => return dumps::MINIZED,
        _ => {}
    }
    let area = match row.key {
        Key::Digilent { classes, names } => {
            let class = classes.first().copied().unwrap_or(NEUTRAL_CLASS);
            // Board id (bits 20..31) from the row, variant 1.
            let product_id = (0x200 + index as u32) << 20 | 0x001 << 8 | u32::from(class);
            digilent_area(product_id, &format!("Digilent {}", names[0]))
        }
        Key::Xilinx { boards } => {
            let code = match row.chip {
                Chip::Ft232h => 2,
                Chip::Ft2232h => 3,
                Chip::Ft4232h => 4,
            };
            xilinx_area(code, "Xilinx", &format!("{} {}", boards[0], row.chip))
        }
    };
    framed(row.chip, &area)
}

/// A Digilent block: a 1, the OEM id, the product id, an empty user name, the product name
/// (28 bytes), firmware version 1.
fn digilent_area(product_id: u32, name: &str) -> Vec<u8> {
    let mut area = vec![0x01, 0x00];
    area.extend(DIGILENT_OEM_ID.to_le_bytes());
    area.extend(product_id.to_le_bytes());
    area.resize(27, 0);
    let mut field = name.as_bytes()[..name.len().min(28)].to_vec();
    field.resize(28, 0);
    area.extend(field);
    area.resize(56, 0);
    area.extend(1u16.to_le_bytes());
    area
}

/// A Xilinx block: firmware id "JX" + code, then vendor and board, each NUL-terminated.
fn xilinx_area(code: u16, vendor: &str, board: &str) -> Vec<u8> {
    let mut area = (0x584A_0000u32 | u32::from(code)).to_le_bytes().to_vec();
    for s in [vendor, board] {
        area.extend(s.as_bytes());
        area.push(0);
    }
    area
}

/// `area` placed in an image of `chip` with its header and checksum.
fn framed(chip: Chip, area: &[u8]) -> [u8; IMAGE_LEN] {
    let mut img = [0u8; IMAGE_LEN];
    img[2..4].copy_from_slice(&chip::VID.to_le_bytes());
    img[4..6].copy_from_slice(&chip.pid().to_le_bytes());
    img[6..8].copy_from_slice(&chip.bcd_device().to_le_bytes());
    img[0x0E] = STRINGS_AT;
    let at = chip.user_area();
    let len = area.len().min(usize::from(STRINGS_AT) - at);
    img[at..at + len].copy_from_slice(&area[..len]);
    let sum = checksum(&img);
    img[IMAGE_LEN - 2..].copy_from_slice(&sum.to_le_bytes());
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftdi::identify::boards::BOARDS;
    use crate::ftdi::identify::eeprom::{decode, UserArea};

    #[test]
    fn every_rows_image_decodes_to_that_row() {
        for (i, row) in BOARDS.iter().enumerate() {
            let img = image_for(row, i);
            let area = decode(row.chip, chip::VID, row.chip.pid(), &img)
                .unwrap_or_else(|e| panic!("{}: {e}", row.name));
            match (row.key, area) {
                (Key::Digilent { classes, names }, UserArea::Digilent(d)) => {
                    assert!(
                        names.iter().any(|n| d.short_name().starts_with(n)),
                        "{}: {}",
                        row.name,
                        d.product_name
                    );
                    if !classes.is_empty() {
                        assert!(classes.contains(&d.firmware_class()), "{}", row.name);
                    }
                    assert!(![0x55, 0x56, 0x59, 0x62].contains(&d.firmware_class()));
                }
                (Key::Xilinx { boards }, UserArea::Xilinx(x)) => {
                    assert!(
                        boards.iter().any(|b| x.board.starts_with(b)),
                        "{}: {}",
                        row.name,
                        x.board
                    );
                }
                (_, other) => panic!("{}: {other:?}", row.name),
            }
        }
    }

    #[test]
    fn synthesized_images_carry_the_row_name_and_chip() {
        let zcu104 = BOARDS.iter().position(|b| b.name == "zcu104").unwrap();
        let img = image_for(&BOARDS[zcu104], zcu104);
        let area = decode(Chip::Ft4232h, chip::VID, chip::PID_FT4232H, &img).unwrap();
        let UserArea::Xilinx(x) = area else {
            panic!("{area:?}")
        };
        assert_eq!((x.code, x.vendor.as_str()), (4, "Xilinx"));
        assert_eq!(x.board, "HW-Z1-ZCU104 FT4232H");
        let nv = BOARDS.iter().position(|b| b.name == "nexys-video").unwrap();
        let img = image_for(&BOARDS[nv], nv);
        let UserArea::Digilent(d) = decode(Chip::Ft2232h, chip::VID, 0x6010, &img).unwrap() else {
            panic!("not Digilent")
        };
        assert_eq!(d.product_name, "Digilent Nexys Video");
        assert_eq!(d.firmware_class(), NEUTRAL_CLASS);
    }
}
