"""Files written whole or not at all: one mechanism for every local output of the package.

`write_whole(path)` opens a temporary file beside `path` and renames it over `path` only when
the writing block ends without an error, so a reader never sees half a file and a failed or
killed write leaves what was there before (a kill can leave the hidden temporary file
`.<name>.<random>.tmp`, never a partial `path`).
"""

import contextlib
import os
import tempfile
from typing import Text


def umask() -> int:
    """The process's file-creation mask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def write_whole(path: Text, mode: Text = 'wb'):
    """Context manager: a file object for `path`, renamed into place when the block succeeds.

    The file gets the permissions of a newly created one (0o666 less the umask), not the
    owner-only permissions of temporary files.

    Example:
        >>> with write_whole('out.json', 'w') as f:
        ...     f.write('{}')
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
