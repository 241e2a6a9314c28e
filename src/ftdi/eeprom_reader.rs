//! Reading the EEPROM image identification needs, one word per vendor request.
//!
//! Exists apart from the decoder ([`identify::eeprom`](crate::ftdi::identify::eeprom), pure)
//! because this is the I/O: `0xC0 0x90 wValue=0 wIndex=word` returns one little-endian word.
//! The request is addressed to the device, not to an interface, so it needs no claim and
//! leaves every kernel driver bound (usbfs lets a vendor request through without one); it is
//! read-only: nothing here ever writes or erases the EEPROM.

use std::time::Duration;

use crate::ftdi::chip::request;
use crate::ftdi::identify::eeprom::IMAGE_LEN;
use crate::ftdi::transport::{UsbError, UsbTransport};

/// How long one word may take. A word takes well under a millisecond on a working chip; this
/// bounds what a wedged device costs the attach.
pub const WORD_TIMEOUT: Duration = Duration::from_millis(200);

/// Reads the first [`IMAGE_LEN`] bytes with `read_word(address, buffer)`, which fills the
/// two-byte buffer and returns how many bytes came. A short answer is an error: a chip that
/// cannot say a whole word is not read further.
pub fn read_image(
    mut read_word: impl FnMut(u16, &mut [u8; 2]) -> Result<usize, UsbError>,
) -> Result<Vec<u8>, UsbError> {
    let mut image = Vec::with_capacity(IMAGE_LEN);
    for address in 0..(IMAGE_LEN / 2) as u16 {
        let mut word = [0u8; 2];
        match read_word(address, &mut word)? {
            2 => image.extend_from_slice(&word),
            n => {
                return Err(UsbError::Other(format!(
                    "EEPROM word {address:#04x}: {n} byte(s) instead of 2"
                )))
            }
        }
    }
    Ok(image)
}

/// [`read_image`] through a [`UsbTransport`] (an emulated chip, or an opened cable).
pub fn read_image_from<T: UsbTransport + ?Sized>(usb: &T) -> Result<Vec<u8>, UsbError> {
    read_image(|address, word| usb.control_in(request::READ_EEPROM, 0, address, word, WORD_TIMEOUT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_read_in_order_little_endian() {
        let mut asked = Vec::new();
        let image = read_image(|address, word| {
            asked.push(address);
            *word = (address * 3).to_le_bytes();
            Ok(2)
        })
        .unwrap();
        assert_eq!(asked, (0..128).collect::<Vec<u16>>());
        assert_eq!(image.len(), IMAGE_LEN);
        assert_eq!(&image[6..8], &9u16.to_le_bytes());
    }

    #[test]
    fn a_short_word_or_a_failure_stops_the_read() {
        let short = read_image(|a, _| Ok(if a == 5 { 1 } else { 2 })).unwrap_err();
        assert!(matches!(short, UsbError::Other(m) if m.contains("word 0x05")));
        let mut calls = 0;
        let gone = read_image(|_, _| {
            calls += 1;
            Err(UsbError::Disconnected)
        });
        assert_eq!((gone, calls), (Err(UsbError::Disconnected), 1));
    }
}
