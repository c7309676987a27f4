"""One pgBackRest repository and the primary it backs up: its configuration (rendered from
`pgbackrest.conf` beside this file), and the pgBackRest commands run on it as the server's system user.

Layout of a repository's folder (`root`):

    pgbackrest.conf   the rendered configuration (owned by the server user: archive-push reads it)
    repo/             backups and archived WAL (repo1-path)
    log/ lock/ spool/ pgBackRest's own files, apart from any other repository on the machine
    restore/          a scratch cluster restored from it (`make restore`), if any

Everything here is pgBackRest doing the work: WAL archiving (`archive-push`, from the server's
archive_command), `stanza-create`, `check`, `backup` (full, differential, incremental; expiry
after each), `info`, `restore` (with the backup set picked for a target time) and `archive-get` (the
restored server's restore_command, written by `restore`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

STANZA = "fintech"
TEMPLATE = Path(__file__).resolve().parent / "pgbackrest.conf"
BACKUP_TYPES = ("full", "diff", "incr")
INSTALL_HINT = "`make cluster` installs it (apt-get install -y pgbackrest)"
# A target time as PostgreSQL's recovery_target_time takes it, always with its UTC offset:
# 2026-05-01 14:30:00+00, 2026-05-01 14:30:00.123456+00:00, 2026-05-01 09:30:00-05.
TARGET_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:?\d{2})?$")


class BackupError(RuntimeError):
    """A backup or restore cannot be done; the message says why and what to do."""


def say(message: str) -> None:
    print(f"[backup {time.strftime('%H:%M:%S')}] {message}", flush=True)


def pgbackrest_path() -> str:
    """The pgbackrest executable; BackupError when it is not installed."""
    found = shutil.which("pgbackrest") or shutil.which("pgbackrest", path="/usr/bin:/bin:/usr/local/bin")
    if found is None:
        raise BackupError(f"pgbackrest is not installed: {INSTALL_HINT}")
    return found


def parse_target_time(text: str) -> datetime:
    """A recovery target ('YYYY-MM-DD HH:MM:SS+00'): its offset is required, never guessed."""
    if not TARGET_TIME.match(text.strip()):
        raise BackupError(
            f"target time {text!r}: expected 'YYYY-MM-DD HH:MM:SS+00' (seconds and a UTC offset; fractions allowed)"
        )
    stamp = text.strip()
    offset = re.search(r"[+-]\d{2}(:?\d{2})?$", stamp)
    assert offset is not None  # the pattern above requires it
    digits = offset.group(0).replace(":", "")
    normalized = stamp[: offset.start()] + digits[:3] + ":" + (digits[3:] or "00")
    return datetime.fromisoformat(normalized)


def run_as(
    user: str | None, argv: list[str], *, timeout: float, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`argv` as the system user `user` (None: ourselves), its groups those of that user only."""
    base = {k: os.environ[k] for k in ("PATH", "LANG", "TZ") if k in os.environ}
    base.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    identity: dict[str, Any] = {}
    if user is not None and user != pwd.getpwuid(os.geteuid()).pw_name:
        entry = pwd.getpwnam(user)
        identity = {
            "user": entry.pw_uid,
            "group": entry.pw_gid,
            "extra_groups": os.getgrouplist(user, entry.pw_gid),
        }
        base["HOME"] = entry.pw_dir if Path(entry.pw_dir).is_dir() else str(cwd)
    try:
        return subprocess.run(  # noqa: S603 - a fixed program, arguments of our own
            argv,
            cwd=cwd,
            env={**base, "LC_ALL": "C", **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **identity,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
        raise BackupError(f"{' '.join(argv[:4])} ... did not finish in {timeout:.0f} s") from exc


@dataclass(frozen=True)
class BackupRun:
    """One backup as pgBackRest recorded it, and how long the command took."""

    label: str
    type: str
    seconds: float
    size: int  # the database's size when it was taken (bytes)
    delta: int  # what this backup had to copy (bytes)
    stored: int  # what it takes in the repository, compressed (bytes)
    wal_start: str
    wal_stop: str


@dataclass(frozen=True)
class RestoreRun:
    """A `pgbackrest restore`: into which folder, from which backup set, how long the files took."""

    data: Path
    label: str
    seconds: float
    output: str


@dataclass(frozen=True)
class Repo:
    """The repository in `root` for the primary whose data directory is `pg_data`, reached by
    pgBackRest on the Unix socket in `socket_dir` (port `pg_port`); `user` is the server's system
    user, which runs every pgBackRest command (None: the current user, when not root)."""

    root: Path
    pg_data: Path
    socket_dir: Path
    pg_port: int
    user: str | None
    stanza: str = STANZA
    timeouts: dict[str, float] = field(
        default_factory=lambda: {"stanza-create": 60.0, "check": 120.0, "backup": 3600.0, "restore": 3600.0}
    )

    @property
    def config(self) -> Path:
        return self.root / "pgbackrest.conf"

    @property
    def path(self) -> Path:
        return self.root / "repo"

    def values(self) -> dict[str, str]:
        return {
            "REPO_PATH": str(self.path),
            "LOG_PATH": str(self.root / "log"),
            "LOCK_PATH": str(self.root / "lock"),
            "SPOOL_PATH": str(self.root / "spool"),
            "STANZA": self.stanza,
            "PG_DATA": str(self.pg_data),
            "PG_PORT": str(self.pg_port),
            "PG_SOCKET_DIR": str(self.socket_dir),
        }

    def render(self) -> str:
        text = Template(TEMPLATE.read_text())
        unknown = set(text.get_identifiers()) - set(self.values())
        if unknown:
            raise BackupError(f"{TEMPLATE}: no value for {sorted(unknown)}")
        return text.substitute(self.values())

    # --- setting it up ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """The repository's folders (the server user's, private) and its configuration, written again."""
        pgbackrest_path()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the server user walks through it to its config and repository
        owner = pwd.getpwnam(self.user) if self.user is not None else None
        for name in ("repo", "log", "lock", "spool"):
            folder = self.root / name
            folder.mkdir(exist_ok=True)
            folder.chmod(0o750)
            if owner is not None:
                os.chown(folder, owner.pw_uid, owner.pw_gid)
        temporary = self.config.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self.render())
        if owner is not None:
            os.chown(temporary, owner.pw_uid, owner.pw_gid)
        temporary.replace(self.config)

    def archive_command(self, *, with_config: bool) -> str:
        """The server's archive_command: with `with_config`, naming this configuration (else the
        server's environment does, PGBACKREST_CONFIG)."""
        config = f"--config={self.config} " if with_config else ""
        return f"pgbackrest {config}--stanza={self.stanza} archive-push %p"

    # --- pgBackRest's commands ----------------------------------------------------------------------
    def run(self, command: str, *args: str, timeout: float | None = None) -> str:
        """`pgbackrest <command>` on this stanza as the server user; BackupError with its output on failure."""
        argv = [pgbackrest_path(), f"--config={self.config}", f"--stanza={self.stanza}", *args, command]
        limit = timeout if timeout is not None else self.timeouts.get(command, 600.0)
        done = run_as(self.user, argv, timeout=limit, cwd=self.root)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            raise BackupError(
                f"pgbackrest {command} failed (exit {done.returncode}):\n{output[-3000:]}\n"
                f"  pgBackRest's log: {self.root / 'log'}/{self.stanza}-{command}.log"
            )
        return done.stdout

    def stanza_create(self, *, online: bool = True) -> None:
        """The stanza in the repository; `online=False` reads the primary's pg_control instead of
        connecting (before its first start, so its first WAL segment already has somewhere to go)."""
        self.run("stanza-create", *(() if online else ("--no-online",)))

    def check(self) -> None:
        """pgBackRest's own end-to-end test: the configuration, the stanza, and a WAL switch on the
        primary whose segment must reach the repository through archive_command within archive-timeout."""
        self.run("check")

    def info(self) -> dict[str, Any]:
        """This stanza's `pgbackrest info` (JSON): its backups, archive range and status."""
        raw = json.loads(self.run("info", "--output=json"))
        return dict(raw[0]) if raw else {}

    def backups(self) -> list[dict[str, Any]]:
        return list(self.info().get("backup", []))

    def backup(self, kind: str) -> BackupRun:
        """A backup of `kind` (full, diff, incr), expiring what retention lets go once it succeeds."""
        if kind not in BACKUP_TYPES:
            raise BackupError(f"backup type {kind!r}: one of {', '.join(BACKUP_TYPES)}")
        started = time.monotonic()
        self.run("backup", f"--type={kind}")
        seconds = time.monotonic() - started
        done = self.backups()
        if not done:
            raise BackupError("pgbackrest backup succeeded but `pgbackrest info` lists no backup")
        last = done[-1]
        return BackupRun(
            label=last["label"],
            type=last["type"],
            seconds=seconds,
            size=int(last["info"]["size"]),
            delta=int(last["info"]["delta"]),
            stored=int(last["info"]["repository"]["delta"]),
            wal_start=str(last.get("archive", {}).get("start", "")),
            wal_stop=str(last.get("archive", {}).get("stop", "")),
        )

    def restore(self, data: Path, target_time: str) -> RestoreRun:
        """The backup set that ended last before `target_time`, restored into `data` (an empty or
        missing folder, never the primary's), with recovery set up to replay archived WAL up to that
        time and promote, and archiving off (a scratch cluster must never push WAL into the repository:
        a later restore following the latest timeline would follow its timeline)."""
        parse_target_time(target_time)
        if data.resolve() == self.pg_data.resolve():
            raise BackupError(f"refusing to restore over the primary's data directory {data}")
        if data.exists() and any(data.iterdir()):
            raise BackupError(f"{data} is not empty: a restore goes into an empty folder")
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        if self.user is not None:
            owner = pwd.getpwnam(self.user)
            os.chown(data, owner.pw_uid, owner.pw_gid)
        started = time.monotonic()
        output = self.run(
            "restore",
            f"--pg1-path={data}",
            "--type=time",
            f"--target={target_time}",
            "--target-action=promote",
            "--archive-mode=off",
            "--log-level-console=info",
        )
        seconds = time.monotonic() - started
        found = re.search(r"restore backup set (\S+)", output)
        return RestoreRun(data=data, label=found.group(1).rstrip(",") if found else "?", seconds=seconds, output=output)


def wait_archived(connect: Any, timeout: float = 60.0) -> str:
    """Switch the primary to a new WAL segment and wait until the one it closed is in the repository
    (pg_stat_archiver, i.e. archive_command succeeded); `connect()` opens an autocommit superuser
    connection. Returns that segment's name."""
    with connect() as db:
        row = db.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        segment = str(row[0])
        deadline = time.monotonic() + timeout
        while True:
            archived, failed, last_failed = db.execute(
                "SELECT last_archived_wal, failed_count, last_failed_wal FROM pg_stat_archiver"
            ).fetchone()
            if archived is not None and str(archived) >= segment:  # hex names: timeline, log, segment
                return segment
            if time.monotonic() > deadline:
                raise BackupError(
                    f"WAL segment {segment} not archived after {timeout:.0f} s (last archived {archived}; "
                    f"{failed} failures, last {last_failed}): see the server's log and pgBackRest's archive-push log"
                )
            time.sleep(0.1)


def next_whole_second(moment: datetime) -> datetime:
    """The first whole second after `moment` (a target time in whole seconds that still includes it)."""
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def log_lines(log: Path, *needles: str) -> list[str]:
    """The lines of a server log that hold one of `needles` (recovery's own account of itself)."""
    with contextlib.suppress(OSError):
        return [
            line.strip() for line in log.read_text(errors="replace").splitlines() if any(n in line for n in needles)
        ]
    return []


def human_bytes(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
