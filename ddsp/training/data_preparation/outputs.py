"""The files a data-preparation run writes, and how a rerun replaces them whole or not at all.

Names. A run writing to the prefix `<dir>/<base>` (e.g. `/data/violin.tfrecord`) produces

    <dir>/<base>-00000-of-00002, ...         records (or <base>-train-*, <base>-eval-*)
    <dir>/statistics.<base>.json              statistics (or statistics.<base>-train.json and
                                              statistics.<base>-eval.json with an eval split)
    <dir>/skipped.<base>.json                 the input files skipped, with the reason

The side files begin with their kind, so the glob `<dir>/<base>*` matches records only and
`tf.data.TFRecordDataset(tf.io.gfile.glob(prefix + '*'))` reads the dataset, while the side
files still sort beside it by name. `side_file_path` is the one place these names are made.
Datasets prepared before used `<prefix>.statistics.json`, `<prefix>-train.statistics.json`,
`<prefix>-eval.statistics.json` and `<prefix>.skipped.json` (`legacy_side_file_paths`); a
rerun replaces them, and readers skip every JSON file a pattern matches (`is_side_file`).

Replacement. A run writes its whole output into a private staging directory beside the
output, `<dir>/.<base>.staging-<host>-<pid>-<8 hex>/new/` (`Staging`); nothing in `<dir>`
changes while it works, so a run that fails or is killed leaves the previous dataset as it
was. When the new output is complete, `Staging.commit`:

1. writes the journal `<dir>/.<base>.replace.json` atomically (written in the staging
   directory, then renamed into place): the old file names, the new ones, the staging
   directory and the owner (host, pid);
2. moves the old files (`existing_outputs`) into the staging directory's `old/`;
3. moves the new files from `new/` into `<dir>`;
4. removes the journal (the replacement is finished), then the staging directory.

While a journal exists the directory may hold part of either dataset, so readers refuse it
(`check_no_unfinished_replacement`, used by `data.TFRecordProvider`) instead of reading a mix.
`recover(prefix)` finishes an interrupted replacement: forward to the complete new dataset
(every new file is in `new/` or already in `<dir>` once the journal exists), or back to the old
one if new files are missing; then it removes the staging directories of dead runs (host of
this machine, pid no longer alive). Every `ddsp_prepare_tfrecord` and
`ddsp_generate_synthetic_dataset` run calls it for its prefix before it starts.

Fault injection (tests only): with the environment variable `DDSP_PREPARE_PAUSE_AT` set to one
of `FAULT_POINTS`, the process stops at that point of the replacement (after writing its pid
to the file named by `DDSP_PREPARE_PAUSE_FILE`, if set) and sleeps until it is killed, so a
test can SIGKILL it there deterministically.

Example:
    >>> recover('/data/violin.tfrecord')  # Finishes an interrupted rerun, if any.
    >>> with Staging('/data/violin.tfrecord') as staging:
    ...     ...  # Write staging.new_prefix + '-00000-of-00001', ...
    ...     staging.commit()  # ['/data/violin.tfrecord-00000-of-00001', ...]
"""

import fnmatch
import json
import logging
import os
import socket
import sys
import time
import uuid

from ddsp import validation

SIDE_KINDS = ('statistics', 'skipped')
SPLITS = (None, 'train', 'eval')
STAGING_TAG = '.staging-'
JOURNAL_SUFFIX = '.replace.json'
JOURNAL_FORMAT = 'ddsp-replace-journal-v1'
PAUSE_ENV = 'DDSP_PREPARE_PAUSE_AT'
PAUSE_FILE_ENV = 'DDSP_PREPARE_PAUSE_FILE'
# The points of `Staging.commit` where a test can stop the process, in order.
FAULT_POINTS = (
    'staged',  # The new output is complete in the staging directory; no journal yet.
    'journal_written',  # The journal is in place; nothing moved yet.
    'old_moving',  # The first old file has been moved aside (the others not yet).
    'old_moved',  # All old files moved aside, no new file moved in.
    'new_moving',  # The first new file has been moved in (the others not yet).
    'new_moved',  # All new files moved in; the journal not yet removed.
    'journal_removed',  # Finished, but the staging directory not yet removed.
)
_PAUSE_LIMIT_S = 600  # A paused process nobody kills exits (code 86) after this long.
_RECORD_PATTERNS = ('-?????-of-?????', '-train-?????-of-?????', '-eval-?????-of-?????')
_OWNER = 'outputs'


class UnfinishedReplacementError(RuntimeError):
    """A replacement of a dataset was interrupted (or is running) and is not finished."""


def _gfile():
    import tensorflow as tf  # Lazy: tf.io.gfile reads local and cloud paths.

    return tf.io.gfile


def _log(message):
    print(f'[ddsp outputs {time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Names.
# ----------------------------------------------------------------------------------------------


def split_prefix(prefix, owner=_OWNER, name='output_tfrecord_path'):
    """`(directory, base name)` of an output prefix; the base name must not be empty."""
    prefix = str(prefix)
    base = os.path.basename(prefix)
    if not base or base in ('.', '..'):
        validation.fail(
            owner, name, 'a file prefix such as /data/violin.tfrecord (not a directory)', prefix
        )
    return os.path.dirname(prefix) or '.', base


def side_file_path(prefix, kind, split=None):
    """The path of a side file of the dataset at `prefix`.

    Args:
        prefix: the records' prefix, `<dir>/<base>`.
        kind: 'statistics' or 'skipped'.
        split: None (the whole dataset), 'train' or 'eval' (statistics of one split).

    Returns:
        `<dir>/<kind>.<base>.json`, or `<dir>/<kind>.<base>-<split>.json`.

    Example:
        >>> side_file_path('/data/violin.tfrecord', 'statistics', 'train')
        '/data/statistics.violin.tfrecord-train.json'
    """
    validation.check_choice('side_file_path', 'kind', kind, SIDE_KINDS)
    validation.check_choice('side_file_path', 'split', split, SPLITS)
    out_dir, base = split_prefix(prefix, 'side_file_path', 'prefix')
    name = f'{kind}.{base}{"-" + split if split else ""}.json'
    if name.startswith(base):  # E.g. base 'stat': 'statistics.stat.json' would match 'stat*'.
        validation.fail(
            'side_file_path',
            'prefix',
            f'a path whose file name is not the start of {name!r} (the glob '
            f"'{base}*' of the records would match that side file too); choose another name",
            str(prefix),
        )
    return os.path.join(out_dir, name)


def legacy_side_file_paths(prefix):
    """The side files of datasets prepared before (`<prefix>.statistics.json`, ...)."""
    prefix = str(prefix)
    return [
        f'{prefix}.statistics.json',
        f'{prefix}-train.statistics.json',
        f'{prefix}-eval.statistics.json',
        f'{prefix}.skipped.json',
    ]


def all_side_file_paths(prefix):
    """Every side file a run may write to `prefix`."""
    paths = [side_file_path(prefix, 'skipped')]
    paths.extend(side_file_path(prefix, 'statistics', split) for split in SPLITS)
    return paths


def journal_path(prefix):
    """`<dir>/.<base>.replace.json`: present only while a replacement is unfinished."""
    out_dir, base = split_prefix(prefix)
    return os.path.join(out_dir, f'.{base}{JOURNAL_SUFFIX}')


def is_side_file(path):
    """Whether `path` is not a record file: a JSON side file (this or the earlier naming), a
    replacement journal or a staging directory (readers' globs such as `<dir>/*` match them)."""
    name = os.path.basename(str(path).rstrip('/'))
    return name.endswith('.json') or (
        name.startswith('.') and (STAGING_TAG in name or '.tmp-' in name)
    )


def record_files(prefix):
    """The existing record shards of the dataset at `prefix`."""
    gfile = _gfile()
    found = set()
    for pattern in _RECORD_PATTERNS:
        found.update(gfile.glob(f'{prefix}{pattern}'))
    return sorted(found)


def existing_outputs(prefix):
    """Existing files that belong to a run written to `prefix` (records and side files, in
    this naming and the earlier one)."""
    gfile = _gfile()
    prefix = str(prefix)
    found = set(record_files(prefix))
    for path in all_side_file_paths(prefix) + legacy_side_file_paths(prefix):
        if gfile.exists(path):
            found.add(path)
    return sorted(found)


# ----------------------------------------------------------------------------------------------
# Owners of staging directories and journals.
# ----------------------------------------------------------------------------------------------


def _host():
    return socket.gethostname().replace('/', '_')


def _pid_alive(pid):
    """Whether process `pid` of this host is running (a zombie counts as dead)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process.
        return True
    try:
        with open(f'/proc/{pid}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        return state not in ('Z', 'X')
    except (OSError, IndexError):
        return True


def _owner_dead(host, pid):
    """True only where it is certain: the owner ran on this host and is gone."""
    return host == _host() and not _pid_alive(pid)


def _parse_staging_name(name, base):
    """`(host, pid)` from `.<base>.staging-<host>-<pid>-<hex>`, or None."""
    head = f'.{base}{STAGING_TAG}'
    if not name.startswith(head):
        return None
    parts = name[len(head) :].rsplit('-', 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def clean_dead_staging(prefix):
    """Removes the staging directories of dead runs writing to `prefix`; returns them.

    Only directories made on this host by a process that is no longer alive are removed (a
    run on another host, or a live one, may still be writing). The hidden `.<base>.tmp-*`
    directories of earlier versions have no owner recorded: they are named in a warning, not
    removed.
    """
    gfile = _gfile()
    out_dir, base = split_prefix(prefix)
    if not gfile.isdir(out_dir):
        return []
    removed = []
    for path in sorted(gfile.glob(os.path.join(out_dir, f'.{base}{STAGING_TAG}*'))):
        owner = _parse_staging_name(os.path.basename(path), base)
        if owner and _owner_dead(*owner):
            gfile.rmtree(path)
            removed.append(path)
            _log(f'removed the staging directory of a dead run (pid {owner[1]}): {path}')
    legacy = gfile.glob(os.path.join(out_dir, f'.{base}.tmp-*'))
    if legacy:
        logging.warning(
            'Temporary directories of an earlier ddsp version beside %s: %s. Remove them if no '
            'run of that version is writing there.',
            prefix,
            ', '.join(sorted(legacy)),
        )
    return removed


# ----------------------------------------------------------------------------------------------
# Fault injection (tests).
# ----------------------------------------------------------------------------------------------


def pause_point(name):
    """Stops here, until killed, if `DDSP_PREPARE_PAUSE_AT` names this point (tests)."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        with open(marker + '.tmp', 'w') as f:
            f.write(str(os.getpid()))
        os.replace(marker + '.tmp', marker)
    _log(f'{PAUSE_ENV}={name}: pid {os.getpid()} paused until killed')
    deadline = time.monotonic() + _PAUSE_LIMIT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(86)


# ----------------------------------------------------------------------------------------------
# Writing and replacing.
# ----------------------------------------------------------------------------------------------


def _rename(src, dst):
    _gfile().rename(src, dst, overwrite=True)


def _read_journal(path):
    gfile = _gfile()
    try:
        with gfile.GFile(path) as f:
            journal = json.loads(f.read())
        if journal.get('format') != JOURNAL_FORMAT:
            raise ValueError(f'format {journal.get("format")!r}')
        for key in ('old', 'new'):
            if not all(isinstance(n, str) and os.path.basename(n) == n for n in journal[key]):
                raise ValueError(f'bad {key!r} list')
        if (
            not isinstance(journal['staging'], str)
            or os.path.basename(journal['staging']) != (journal['staging'])
        ):
            raise ValueError('bad staging name')
        journal['pid'] = int(journal['pid'])
        journal['host'] = str(journal['host'])
        return journal
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UnfinishedReplacementError(
            validation.message(
                'recover',
                'journal',
                'a replacement journal written by ddsp (it is unreadable: '
                f'{type(e).__name__}: {e}); restore the dataset by hand from the staging '
                f'directory beside it, then delete {path}',
                path,
            )
        ) from e


class Staging:
    """A private directory beside `output_path` that a run writes its whole output into.

    Args:
        output_path: the prefix `<dir>/<base>` of the final files.
        owner: who writes (for error messages), e.g. 'prepare_tfrecord'.

    Attributes:
        dir: the staging directory `<dir>/.<base>.staging-<host>-<pid>-<hex>`.
        new_prefix: `output_path`'s counterpart in it: write `new_prefix + '-00000-of-00001'`,
            `side_file_path(new_prefix, 'statistics')`, ...

    Raises:
        ValueError: the output directory cannot be created or written (e.g. under /proc).
    """

    def __init__(self, output_path, owner='prepare_tfrecord'):
        gfile = _gfile()
        self.prefix = str(output_path)
        self.out_dir, self.base = split_prefix(self.prefix, owner)
        self.dir = os.path.join(
            self.out_dir,
            f'.{self.base}{STAGING_TAG}{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}',
        )
        self.new_dir = os.path.join(self.dir, 'new')
        self.old_dir = os.path.join(self.dir, 'old')
        self.new_prefix = os.path.join(self.new_dir, self.base)
        self.committed = False
        self._journal_written = False
        try:
            gfile.makedirs(self.out_dir)
            gfile.makedirs(self.new_dir)
            gfile.makedirs(self.old_dir)
        except Exception as e:  # noqa: BLE001 -- tf.errors.OpError, OSError, ...
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            validation.fail(
                owner,
                'output_tfrecord_path',
                f'a path in a writable directory (creating {self.dir} failed: {reason}); '
                'choose a directory you can write to',
                self.prefix,
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()
        return False

    def new_files(self):
        """Names of the files written to `new/` (Beam's temporary directories left out)."""
        gfile = _gfile()
        return sorted(
            name
            for name in gfile.listdir(self.new_dir)
            if not gfile.isdir(os.path.join(self.new_dir, name.rstrip('/')))
        )

    def discard(self):
        """Removes the staging directory (the output is left as it is).

        Once `commit` has written its journal the staging directory holds files of the
        replacement (the old files moved aside): if the commit did not finish, it is left for
        `recover`.
        """
        gfile = _gfile()
        if self._journal_written and not self.committed:
            return
        if gfile.exists(self.dir):
            gfile.rmtree(self.dir)

    def commit(self):
        """Replaces the existing output at the prefix with `new/` (steps in the module doc).

        Returns:
            The final paths of the new files.

        Raises:
            UnfinishedReplacementError: another replacement of this prefix is unfinished.
        """
        gfile = _gfile()
        old = [os.path.basename(p) for p in existing_outputs(self.prefix)]
        new = self.new_files()
        pause_point('staged')
        journal = {
            'format': JOURNAL_FORMAT,
            'prefix': self.prefix,
            'staging': os.path.basename(self.dir),
            'host': _host(),
            'pid': os.getpid(),
            'time': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
            'old': old,
            'new': new,
        }
        final = journal_path(self.prefix)
        draft = os.path.join(self.dir, 'journal.json')
        with gfile.GFile(draft, 'w') as f:
            f.write(json.dumps(journal, indent=1))
        try:
            gfile.rename(draft, final, overwrite=False)
        except Exception as e:  # noqa: BLE001 -- tf.errors.AlreadyExistsError and others.
            raise UnfinishedReplacementError(
                validation.message(
                    'prepare_tfrecord',
                    'output_tfrecord_path',
                    'an output no other run is replacing right now (the journal '
                    f'{final} exists: {type(e).__name__}); wait for that run, or call '
                    f'ddsp.training.data_preparation.outputs.recover({self.prefix!r})',
                    self.prefix,
                )
            ) from e
        self._journal_written = True
        pause_point('journal_written')
        for i, name in enumerate(old):
            _rename(os.path.join(self.out_dir, name), os.path.join(self.old_dir, name))
            if i == 0:
                pause_point('old_moving')
        pause_point('old_moved')
        outputs = []
        for i, name in enumerate(new):
            dst = os.path.join(self.out_dir, name)
            _rename(os.path.join(self.new_dir, name), dst)
            outputs.append(dst)
            if i == 0:
                pause_point('new_moving')
        pause_point('new_moved')
        gfile.remove(final)
        self.committed = True
        pause_point('journal_removed')
        self.discard()
        return outputs


def recover(prefix):
    """Finishes an interrupted replacement of the dataset at `prefix`, and cleans up.

    With a journal (`journal_path(prefix)`) left by a killed run: if every new file is in the
    staging directory or already in place, the replacement is rolled forward (the old files
    are moved aside, the new ones in); otherwise, if every old file is still in place or in
    the staging directory, it is rolled back. Then the staging directories of dead runs are
    removed (`clean_dead_staging`). Safe to call at any time; does nothing when nothing is
    unfinished.

    Args:
        prefix: the dataset's prefix, as given to `ddsp_prepare_tfrecord
            --output_tfrecord_path`.

    Returns:
        dict: `action` ('none', 'rolled_forward' or 'rolled_back') and `removed_staging` (the
        staging directories of dead runs removed).

    Raises:
        UnfinishedReplacementError: the journal's owner is a live process of this host (a
            replacement is running now), the journal is unreadable, or neither the old nor
            the new dataset is complete.
    """
    gfile = _gfile()
    prefix = str(prefix)
    out_dir, _ = split_prefix(prefix, 'recover', 'prefix')
    path = journal_path(prefix)
    action = 'none'
    if gfile.exists(path):
        journal = _read_journal(path)
        if journal['pid'] != os.getpid() and not _owner_dead(journal['host'], journal['pid']):
            if journal['host'] == _host():
                raise UnfinishedReplacementError(
                    validation.message(
                        'recover',
                        'prefix',
                        f'a dataset no live process is replacing (pid {journal["pid"]} is '
                        f'replacing it now, journal {path}); wait for it to finish',
                        prefix,
                    )
                )
            _log(
                f'the journal {path} was written on host {journal["host"]} (pid '
                f'{journal["pid"]}); finishing it from here'
            )
        action = _finish(out_dir, journal, path)
        _log(f'recovered {prefix}: {action.replace("_", " ")} ({path})')
    return {'action': action, 'removed_staging': clean_dead_staging(prefix)}


def _finish(out_dir, journal, path):
    gfile = _gfile()
    staging = os.path.join(out_dir, journal['staging'])
    new_dir, old_dir = os.path.join(staging, 'new'), os.path.join(staging, 'old')
    old, new = journal['old'], set(journal['new'])

    def staged(name):
        return gfile.exists(os.path.join(new_dir, name))

    def placed(name):
        return gfile.exists(os.path.join(out_dir, name))

    def aside(name):
        return gfile.exists(os.path.join(old_dir, name))

    # New files move in only after every old file has been moved aside, so a new name that is
    # no longer staged is in place, and a file in place under that name is the new one.
    missing_new = [n for n in sorted(new) if not staged(n) and not placed(n)]
    if not missing_new:
        gfile.makedirs(old_dir)
        for name in old:
            if placed(name) and not (name in new and not staged(name)):
                _rename(os.path.join(out_dir, name), os.path.join(old_dir, name))
        for name in sorted(new):
            if staged(name):
                _rename(os.path.join(new_dir, name), os.path.join(out_dir, name))
        action = 'rolled_forward'
    else:
        moved_in = [n for n in sorted(new) if not staged(n) and placed(n)]
        missing_old = [n for n in old if not aside(n) and not (placed(n) and n not in moved_in)]
        if missing_old:
            raise UnfinishedReplacementError(
                validation.message(
                    'recover',
                    'prefix',
                    'a dataset whose old or new files are all still there (new files '
                    f'missing: {missing_new}; old files missing: {missing_old}); restore it '
                    f'by hand from {staging}, then delete {path}',
                    journal['prefix'],
                )
            )
        gfile.makedirs(new_dir)
        for name in moved_in:
            _rename(os.path.join(out_dir, name), os.path.join(new_dir, name))
        for name in old:
            if aside(name):
                _rename(os.path.join(old_dir, name), os.path.join(out_dir, name))
        action = 'rolled_back'
    gfile.remove(path)
    if gfile.exists(staging):
        gfile.rmtree(staging)
    return action


# ----------------------------------------------------------------------------------------------
# Readers.
# ----------------------------------------------------------------------------------------------


def unfinished_replacements(file_pattern):
    """Journals of unfinished replacements whose old or new files `file_pattern` matches."""
    gfile = _gfile()
    file_pattern = str(file_pattern)
    pattern_dir = os.path.dirname(file_pattern) or '.'
    found = []
    for path in sorted(gfile.glob(os.path.join(pattern_dir, f'.*{JOURNAL_SUFFIX}'))):
        out_dir = os.path.dirname(path)
        try:
            with gfile.GFile(path) as f:
                journal = json.loads(f.read())
            names = list(journal.get('old', [])) + list(journal.get('new', []))
        except Exception:  # noqa: BLE001 -- a damaged journal: the dataset is unfinished.
            names = None
        if names is None or any(
            fnmatch.fnmatchcase(os.path.join(out_dir, str(n)), file_pattern) for n in names
        ):
            found.append(path)
    return found


def check_no_unfinished_replacement(file_pattern, owner):
    """Raises UnfinishedReplacementError if `file_pattern` matches files of an unfinished
    replacement (the directory may hold part of the old and part of the new dataset)."""
    journals = unfinished_replacements(file_pattern)
    if not journals:
        return
    base = os.path.basename(journals[0])[1 : -len(JOURNAL_SUFFIX)]
    prefix = os.path.join(os.path.dirname(journals[0]), base)
    validation_text = validation.message(
        owner,
        'file_pattern',
        'a dataset that is not being replaced (a rerun of ddsp_prepare_tfrecord into '
        f'{prefix} was interrupted, journal {journals[0]}); rerun ddsp_prepare_tfrecord with '
        f'--output_tfrecord_path={prefix}, or call '
        f'ddsp.training.data_preparation.outputs.recover({prefix!r})',
        file_pattern,
    )
    raise UnfinishedReplacementError(validation_text)
