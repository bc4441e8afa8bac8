"""Reading a user's own text file, with errors that say what to fix."""

import os
from pathlib import Path


def load_text(path: str | os.PathLike) -> str:
    """The contents of a UTF-8 text file, exactly as stored (nothing replaced, dropped or translated).

    Raises FileNotFoundError or IsADirectoryError naming the absolute path, and
    ValueError for an empty file or for bytes that are not UTF-8 (with their offset).
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a text file; pass the path of a file inside it")
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}; check the path (relative paths start at {Path.cwd()})")
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{path} is empty; a corpus needs some text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = data[err.start : err.end]
        raise ValueError(
            f"{path} is not UTF-8: byte offset {err.start} holds {bad!r} ({err.reason}). Re-save the file "
            f"as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}` "
            "if it is Latin-1"
        ) from None
