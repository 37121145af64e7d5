"""Pack the webappctl package into one zipapp, byte for byte the same for the same sources (fixed
timestamps, sorted entries), so that shipping it is one file copy that reports no change when
nothing changed. Run on the controller by the webappctl role:  python3 pack.py DEST
Prints the sha256 of what the role installs (the zipapp and the unit templates): the app role's
quick check that a host already runs this very program."""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "webappctl"
MAIN = b"from webappctl.cli import main\nimport sys\nsys.exit(main())\n"


def pack(dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        entries = [("__main__.py", MAIN)]
        entries += [(f"webappctl/{p.name}", p.read_bytes()) for p in sorted(SOURCE.glob("*.py"))]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    os.replace(tmp, dest)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    pack(target)
    digest = hashlib.sha256(target.read_bytes())
    for template in sorted((SOURCE.parent.parent / "templates").glob("*.j2")):
        digest.update(template.read_bytes())
    print(digest.hexdigest())
