"""moto's server, with one field made as AWS returns it: SnapshotId is "" on a volume not made from a
snapshot (moto leaves the field out, and amazon.aws.ec2_vol_info then fails with KeyError 'snapshot_id',
which the role's search for a kept data volume would hit). Run as: python moto_like_aws.py -H HOST -p PORT."""

from __future__ import annotations

import sys

from moto.ec2.models import elastic_block_store
from moto.server import main

_volume_init = elastic_block_store.Volume.__init__


def _init_like_aws(self: elastic_block_store.Volume, *args: object, **kwargs: object) -> None:
    _volume_init(self, *args, **kwargs)
    if self.snapshot_id is None:
        self.snapshot_id = ""


elastic_block_store.Volume.__init__ = _init_like_aws

if __name__ == "__main__":
    sys.exit(main())
