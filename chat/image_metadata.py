"""Metadata removed from uploaded images without re-encoding them: EXIF (GPS location, camera, times), XMP,
IPTC and comments go; pixels, colour profile and a JPEG's orientation stay.

The file is rewritten segment by segment (JPEG) or chunk by chunk (PNG, WebP), so the image is the
same bytes of picture data, only without what a phone writes about where and when it was taken. GIFs
carry no EXIF and are kept as they are.
"""

from __future__ import annotations

import struct

from PIL import Image

ORIENTATION = 0x0112

# JPEG: APP0 (JFIF), APP2 (ICC profile), APP14 (Adobe colour transform) and every non-APP marker are kept;
# APP1 (EXIF, XMP), APP13 (IPTC), the other APPn and COM are dropped. APP2 also carries MPF, the index of
# extra images appended after the first (previews, depth maps, each with its own EXIF): both go.
_JPEG_KEEP_APP = {0xE0, 0xEE}
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_WEBP_DROP = {b"EXIF", b"XMP "}
_WEBP_EXIF_XMP_FLAGS = 0x08 | 0x04  # VP8X header bits saying EXIF / XMP chunks follow


def image_without_metadata(data: bytes, fmt: str, *, orientation: int = 1) -> bytes:
    """`data` (a decoded, checked image of Pillow format `fmt`) without its metadata."""
    if fmt == "JPEG":
        return _jpeg(data, orientation)
    if fmt == "PNG":
        return _png(data)
    if fmt == "WEBP":
        return _webp(data)
    return data


def _orientation_segment(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    payload = exif.tobytes()  # b"Exif\0\0" and a TIFF header with that one tag
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _jpeg(data: bytes, orientation: int) -> bytes:
    out, pos = bytearray(data[:2]), 2  # SOI
    if 2 <= orientation <= 8:
        out += _orientation_segment(orientation)
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("not a JPEG segment")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            out += data[pos : pos + 2]
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        end = pos + 2 + length
        if marker == 0xDA:  # start of scan: picture data up to the end of this image (FFD9 never occurs inside)
            eoi = data.find(b"\xff\xd9", end)
            out += data[pos : len(data) if eoi < 0 else eoi + 2]
            return bytes(out)
        keep = not (0xE0 <= marker <= 0xEF or marker == 0xFE) or marker in _JPEG_KEEP_APP
        if marker == 0xE2 and data[pos + 4 : pos + 16] == b"ICC_PROFILE\0":
            keep = True
        if keep:
            out += data[pos:end]
        pos = end
    raise ValueError("JPEG without picture data")


def _png(data: bytes) -> bytes:
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if kind not in _PNG_DROP:
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            break
    return bytes(out)


def _webp(data: bytes) -> bytes:
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[pos : pos + 8])
        end = pos + 8 + size + (size & 1)
        if kind == b"VP8X":
            header = bytearray(data[pos:end])
            header[8] &= ~_WEBP_EXIF_XMP_FLAGS & 0xFF
            chunks.append(bytes(header))
        elif kind not in _WEBP_DROP:
            chunks.append(data[pos:end])
        pos = end
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
