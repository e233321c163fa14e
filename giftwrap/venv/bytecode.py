"""Byte-compile a virtualenv's site-packages, with a cache of .pyc files.

Not imported by giftwrap: the virtualenv's own interpreter runs this file
(copied into the work directory, so it works inside a target's container
too), because byte-code belongs to the Python that will load it.  Standard
library only, and Python 3.6 syntax: a target may run an old Python.

Usage: ``python bytecode.py SITE RECORDED [CACHE]``.  Every ``*.py`` under
SITE is compiled as ``compileall -f --invalidation-mode checked-hash -d
RECORDED`` would compile it.  A checked-hash .pyc is a function of the
interpreter's magic number, the recorded path (``co_filename``) and the
source bytes, so with CACHE it is kept there under the hash of those three
and copied, not compiled, the next time: a rebuild recompiles only the
files that changed (the project's own), not the hundred distributions it
shares with the last build.  Exit status 1 when some files do not compile
(they are listed), as compileall.
"""

import concurrent.futures
import hashlib
import importlib.util
import os
import py_compile
import shutil
import sys
import tempfile

_MODE = py_compile.PycInvalidationMode.CHECKED_HASH
#: py_compile gives a .pyc its source's mode (without x bits): a cached one
#: is linked only where that is this mode.
_CACHED_MODE = 0o644
#: py_compile creates files through the umask (read once: it is per process)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _sources(site, recorded):
    """(source, recorded path, .pyc path) of every module, as compileall."""
    for top, dirs, files in os.walk(site):
        # compileall does not descend into linked directories.
        dirs[:] = sorted(d for d in dirs
                         if not os.path.islink(os.path.join(top, d)))
        rel = os.path.relpath(top, site)
        for name in sorted(files):
            if name.endswith('.py'):
                path = os.path.join(top, name)
                dfile = os.path.normpath(os.path.join(recorded, rel, name))
                yield path, dfile, importlib.util.cache_from_source(path)


def _key(path, dfile):
    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER)
    digest.update(dfile.encode('utf-8', 'surrogateescape') + b'\0')
    with open(path, 'rb') as stream:
        digest.update(stream.read())
    return digest.hexdigest()


def _compile(job):
    path, dfile, cfile = job
    try:
        py_compile.compile(path, cfile=cfile, dfile=dfile, doraise=True,
                           invalidation_mode=_MODE)
    except (py_compile.PyCompileError, SyntaxError, ValueError,
            UnicodeError, OSError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return path, lines[-1]
    return path, None


def _compile_all(jobs):
    if len(jobs) > 50 and (os.cpu_count() or 1) > 1:
        try:
            with concurrent.futures.ProcessPoolExecutor() as pool:
                return list(pool.map(_compile, jobs, chunksize=16))
        except (OSError, ImportError, NotImplementedError):
            pass  # no working multiprocessing here (no /dev/shm): serially
    return [_compile(job) for job in jobs]


def _store(cache, key, cfile):
    """Keep ``cfile`` as ``key``; atomic, so two builds may share CACHE."""
    final = os.path.join(cache, key[:2], key)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(final), prefix='.tmp')
    os.close(handle)
    try:
        shutil.copyfile(cfile, tmp)
        os.chmod(tmp, _CACHED_MODE)
        os.replace(tmp, final)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _place(cached, path, cfile):
    """Put a cached .pyc at ``cfile``: a hard link where possible.

    Nothing writes a staged .pyc in place afterwards (files are removed or
    packaged), so sharing the cache's inode is safe and saves creating
    thousands of files.
    """
    if os.path.lexists(cfile):  # never write through an existing link
        os.unlink(cfile)
    mode = os.stat(path).st_mode & 0o666 & ~_UMASK
    if mode == _CACHED_MODE:
        try:
            os.link(cached, cfile)
            return
        except OSError:  # another file system, or links not allowed
            pass
    shutil.copyfile(cached, cfile)
    os.chmod(cfile, mode)


def main(argv):
    site, recorded = argv[0], argv[1]
    cache = argv[2] if len(argv) > 2 else None
    misses, keys, made = [], {}, set()
    for path, dfile, cfile in _sources(site, recorded):
        if cache is not None:
            key = keys[cfile] = _key(path, dfile)
            hit = os.path.join(cache, key[:2], key)
            if os.path.isfile(hit):
                if os.path.dirname(cfile) not in made:
                    os.makedirs(os.path.dirname(cfile), exist_ok=True)
                    made.add(os.path.dirname(cfile))
                _place(hit, path, cfile)
                continue
        misses.append((path, dfile, cfile))
    failures = dict(f for f in _compile_all(misses) if f[1])
    if cache is not None:
        for path, _, cfile in misses:
            if path not in failures and os.path.isfile(cfile):
                _store(cache, keys[cfile], cfile)
    print('{} compiled, {} from the cache'.format(
        len(misses), len(keys) - len(misses) if cache else 0))
    for path, error in sorted(failures.items()):
        print('*** {}: {}'.format(path, error))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
