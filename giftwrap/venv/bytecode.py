"""Byte-compile a virtualenv's site-packages, with a cache of .pyc files.

Not imported by giftwrap: the virtualenv's own interpreter runs this file
(copied into the work directory, so it works inside a target's container
too), because byte-code belongs to the Python that will load it.  Standard
library only, and Python 3.6 syntax: a target may run an old Python.

Usage: ``python bytecode.py [--only=LIST] SITE RECORDED [CACHE]``.  Every
``*.py`` under SITE gets the checked-hash .pyc of ``compileall -f
--invalidation-mode checked-hash -d RECORDED``: the same code objects, each
recording its installed path (``co_filename``).  With ``--only``, only the
modules LIST names (a file of paths relative to SITE, one a line): a
distribution installed after the others were compiled.  Exit status 1 when
some files do not compile (they are listed), as compileall.

How, so that the cache serves every install path:

- a module is compiled once per interpreter and source, whatever its path:
  under a placeholder name, and its code objects are then given the
  recorded path (:func:`_retarget`);
- with CACHE, each .pyc is kept under the hash of the magic number, its
  recorded path and the source, and hard-linked into the next build of the
  same project, which then writes only the files that changed;
- the first .pyc kept of a source is also linked under the hash of the
  magic number and the source alone: the next project that installs the
  same distribution under another path gives its code objects that path
  instead of compiling (keystone's libraries share most of its closure).

Every .pyc is written the same way (the code objects of one marshal round
trip, given their path), cached or not, so a build's bytes do not depend
on what the cache held: retargeting a .pyc made for another path gives the
bytes retargeting the placeholder's code gives.  marshal marks shared
objects from the objects it is given, so these bytes may differ from
compileall's in those marks only; the code loaded is the same.
Pythons without ``CodeType.replace`` (before 3.8) compile every file for
its path, as compileall.
"""

import concurrent.futures
import hashlib
import importlib.util
import marshal
import os
import py_compile
import shutil
import sys
import tempfile
import types

_MODE = py_compile.PycInvalidationMode.CHECKED_HASH
#: py_compile gives a .pyc its source's mode (without x bits): a cached one
#: is linked only where that is this mode.
_CACHED_MODE = 0o644
#: py_compile creates files through the umask (read once: it is per process)
_UMASK = os.umask(0o022)
os.umask(_UMASK)
#: compile each source once, whatever its path (see the module's doc)
_RETARGET = hasattr(types.CodeType, 'replace')
#: the name a module is compiled under before it gets its recorded path
_PLACEHOLDER = '<giftwrap-bytecode>'
#: the .pyc header's flags: hash-based, checked
_CHECKED = (0b11).to_bytes(4, 'little')
#: kept in front of every key: entries of an older scheme are not mixed in
_SCHEME = b'giftwrap-bytecode-2\0'


def _sources(site, recorded, only=None):
    """(source, recorded path, .pyc path) of every module, as compileall;
    with ``only`` (a set of paths relative to ``site``), of those alone."""
    for top, dirs, files in os.walk(site):
        # compileall does not descend into linked directories.
        dirs[:] = sorted(d for d in dirs
                         if not os.path.islink(os.path.join(top, d)))
        rel = os.path.relpath(top, site)
        for name in sorted(files):
            if only is not None and os.path.normpath(
                    os.path.join(rel, name)) not in only:
                continue
            if name.endswith('.py'):
                path = os.path.join(top, name)
                dfile = os.path.normpath(os.path.join(recorded, rel, name))
                yield path, dfile, importlib.util.cache_from_source(path)


def _hash(*parts):
    digest = hashlib.sha256(_SCHEME + importlib.util.MAGIC_NUMBER)
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def _entry(cache, key):
    return os.path.join(cache, key[:2], key)


def _retarget(code, filename):
    """``code`` and the code objects in it, recording ``filename``."""
    consts = tuple(_retarget(c, filename) if isinstance(c, types.CodeType)
                   else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _write(cfile, data, mode):
    """Write ``cfile`` anew, never through an existing file (it may be a
    link into the cache): a new file, renamed over an old one."""
    directory = os.path.dirname(cfile)
    if not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
    if not os.path.lexists(cfile):
        try:
            handle = os.open(cfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             mode)
        except FileExistsError:
            pass
        else:
            with os.fdopen(handle, 'wb') as stream:
                stream.write(data)
            return
    handle, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp')
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, cfile)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _mode(path):
    """The mode py_compile gives the .pyc of ``path``: the source's,
    writable by its owner, through the umask."""
    return (os.stat(path).st_mode | 0o200) & 0o666 & ~_UMASK


def _error(exc):
    if isinstance(exc, SyntaxError):
        return '{}: {} (line {})'.format(type(exc).__name__, exc.msg,
                                         exc.lineno)
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[-1]


def _compile(job):
    """Write one .pyc; (source, error or None).

    ``job``: the source, its recorded path, its .pyc and a cached .pyc of
    the same source for another path (None: none, or no retargeting).
    """
    path, dfile, cfile, other = job
    try:
        if not _RETARGET:
            py_compile.compile(path, cfile=cfile, dfile=dfile, doraise=True,
                               invalidation_mode=_MODE)
            return path, None
        with open(path, 'rb') as stream:
            source = stream.read()
        code = _cached_code(other) if other is not None else None
        if code is None:
            code = marshal.loads(marshal.dumps(compile(
                source, _PLACEHOLDER, 'exec', dont_inherit=True)))
        code = _retarget(code, dfile)
        _write(cfile, importlib.util.MAGIC_NUMBER + _CHECKED
               + importlib.util.source_hash(source) + marshal.dumps(code),
               _mode(path))
    except (py_compile.PyCompileError, SyntaxError, ValueError,
            UnicodeError, OSError) as exc:
        return path, _error(exc.exc_value if isinstance(
            exc, py_compile.PyCompileError) else exc)
    return path, None


def _cached_code(pyc):
    """The code objects of a cached .pyc, or None if it cannot be read."""
    try:
        with open(pyc, 'rb') as stream:
            data = stream.read()
        if data[:4] != importlib.util.MAGIC_NUMBER:
            return None
        return marshal.loads(data[16:])
    except (OSError, ValueError, EOFError, TypeError):
        return None


def _compile_all(jobs, compiling):
    """Run ``jobs``; on every core when there is enough work: ``compiling``
    many, or a great many to take from the cache."""
    if (compiling > 50 or len(jobs) > 1000) and (os.cpu_count() or 1) > 1:
        try:
            with concurrent.futures.ProcessPoolExecutor() as pool:
                return list(pool.map(_compile, jobs, chunksize=16))
        except (OSError, ImportError, NotImplementedError):
            pass  # no working multiprocessing here (no /dev/shm): serially
    return [_compile(job) for job in jobs]


def _store(final, cfile):
    """Keep the .pyc ``cfile`` at ``final``: the same file (a link) where
    it has the cache's mode, else a copy; atomic (a new name renamed), so
    two builds may share CACHE."""
    tmp = '{}.tmp{}'.format(final, os.getpid())
    try:
        os.makedirs(os.path.dirname(final), exist_ok=True)
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if os.stat(cfile).st_mode & 0o777 == _CACHED_MODE:
            try:
                os.link(cfile, tmp)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(cfile, tmp)
        else:
            shutil.copyfile(cfile, tmp)
        os.chmod(tmp, _CACHED_MODE)
        os.replace(tmp, final)
    except OSError:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _place(cached, path, cfile):
    """Put a cached .pyc at ``cfile``: a hard link where possible.

    Nothing writes a staged .pyc in place afterwards (files are removed or
    packaged), so sharing the cache's inode is safe and saves creating
    thousands of files.
    """
    if os.path.lexists(cfile):  # never write through an existing link
        os.unlink(cfile)
    mode = _mode(path)
    if mode == _CACHED_MODE:
        try:
            os.link(cached, cfile)
            return
        except OSError:  # another file system, or links not allowed
            pass
    shutil.copyfile(cached, cfile)
    os.chmod(cfile, mode)


def _only(argv):
    """The ``--only=LIST`` option's set of paths, and the other arguments."""
    if not argv or not argv[0].startswith('--only='):
        return None, argv
    with open(argv[0][len('--only='):], encoding='utf-8') as listed:
        return {os.path.normpath(line.rstrip('\n'))
                for line in listed if line.strip()}, argv[1:]


def main(argv):
    only, argv = _only(argv)
    site, recorded = argv[0], argv[1]
    cache = argv[2] if len(argv) > 2 else None
    jobs, entries, made, total = [], {}, set(), 0
    compiling = 0
    for path, dfile, cfile in _sources(site, recorded, only):
        total += 1
        other = None
        if cache is not None:
            with open(path, 'rb') as stream:
                source = stream.read()
            own = _entry(cache, _hash(dfile.encode('utf-8', 'surrogateescape'),
                                      b'\0', source))
            if os.path.isfile(own):
                if os.path.dirname(cfile) not in made:
                    os.makedirs(os.path.dirname(cfile), exist_ok=True)
                    made.add(os.path.dirname(cfile))
                _place(own, path, cfile)
                continue
            shared = _entry(cache, _hash(b'\0any path\0', source))
            entries[cfile] = own, shared
            if _RETARGET and os.path.isfile(shared):
                other = shared
        if other is None:
            compiling += 1
        jobs.append((path, dfile, cfile, other))
    failures = dict(f for f in _compile_all(jobs, compiling) if f[1])
    if cache is not None:
        for path, _, cfile, other in jobs:
            if path in failures or not os.path.isfile(cfile):
                continue
            own, shared = entries[cfile]
            _store(own, cfile)
            if _RETARGET and other is None:
                _store(shared, own)
    print('{} compiled, {} from the cache'.format(
        compiling, total - compiling if cache else 0))
    for path, error in sorted(failures.items()):
        print('*** {}: {}'.format(path, error))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
