"""Naming the first difference between two builds."""

from __future__ import annotations

import io
import tarfile

from giftwrap.trust import reproducible


def tar(entries: dict[str, tuple[bytes, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w:gz') as archive:
        for name, (data, mtime) in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def deb(data_tar: bytes) -> bytes:
    members = [('debian-binary', b'2.0\n'), ('control.tar.gz', tar({})),
               ('data.tar.gz', data_tar)]
    out = bytearray(b'!<arch>\n')
    for name, body in members:
        header = f'{name + "/":<16}{0:<12}{0:<6}{0:<6}{"100644":<8}' \
                 f'{len(body):<10}`\n'
        out += header.encode() + body + (b'\n' if len(body) % 2 else b'')
    return bytes(out)


def test_identical(tmp_path):
    a, b = tmp_path / 'a.deb', tmp_path / 'b.deb'
    a.write_bytes(deb(tar({'./opt/x': (b'1', 5)})))
    b.write_bytes(a.read_bytes())
    assert reproducible.first_difference(a, b) is None


def test_names_the_entry_and_field(tmp_path):
    a, b = tmp_path / 'a.deb', tmp_path / 'b.deb'
    a.write_bytes(deb(tar({'./opt/x': (b'1', 5), './opt/y': (b'2', 5)})))
    b.write_bytes(deb(tar({'./opt/x': (b'1', 5), './opt/y': (b'2', 6)})))
    assert reproducible.first_difference(a, b) == \
        'data.tar.gz: ./opt/y: mtime 5 != 6'
    b.write_bytes(deb(tar({'./opt/x': (b'3', 5), './opt/y': (b'2', 5)})))
    assert reproducible.first_difference(a, b) == \
        'data.tar.gz: ./opt/x: content differs'


def test_other_files_give_the_offset(tmp_path):
    a, b = tmp_path / 'a.rpm', tmp_path / 'b.rpm'
    a.write_bytes(b'abcdef')
    b.write_bytes(b'abcXef')
    assert reproducible.first_difference(a, b) == 'byte 3 differs'
