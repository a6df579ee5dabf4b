"""Descriptors another tool computed, as a row of the results (`kind: external`).

A method of this kind has no describer: `read` takes the global descriptors that another tool
wrote (CosPlace, SALAD, MixVPR, ... run by VPR-methods-evaluation with `--save_descriptors`) and
hands them, in the manifest's order, to the suite's own retrieval, scoring, intervals and paired
tests, so those methods are reported beside ACM-Net on exactly the same queries.

Options: `descriptors` (per dataset a path, or {query set -> path}), `normalize` (default true:
L2-normalised rows) and `label`. Forms: 0, a VPR-methods-evaluation log folder (or either of its
two `.npy` files); 1, a `global_features.pickle`; 2, kapture (`global_features.txt` + `.gfeat`);
3, an `.npz` of `names` and `descriptors`, or an `.npy` with a `.txt` of names. Forms 0 and 1 are
positional: they cannot tell database rows from query rows, so the file must hold the database
rows first, then the query rows, in the dataset's own order; forms 2 and 3 are matched by name.
Pickles are read only by `acmnet.pickled.load_pickle`, which never runs code a file names.

Every form, its order, every refusal and the tool version that writes it: docs/external-descriptors.md
(the one description; keep it in step with `FORMS` and `READERS`). One module per form (`pair`,
`pickles`, `kapture`, `named`), each a `reader.Reader`: `files(path)` lists every file its
descriptors are read from, `rows(...)` reads them. Files read, by content: that list is the describe
step's Snakemake input, and `entry_digest` (name and sha256 of each file) is recorded in the
describe record, is the describe rule's params and is re-checked wherever the descriptors or a
retrieval made from them are loaded (`acmnet.artifacts.check_external_sources`). A new form joins
by its module and one line in `forms.READERS`. The method kind itself: `kind`.
"""

from acmnet.methods.external.digests import entry_digest
from acmnet.methods.external.forms import FORMS, READERS, _form, files_read
from acmnet.methods.external.kind import METHOD, ExternalOptions, _files
from acmnet.methods.external.reader import ExternalDescriptorsError, Reader
from acmnet.methods.external.rows import read_file

__all__ = [
    "FORMS",
    "METHOD",
    "READERS",
    "ExternalDescriptorsError",
    "ExternalOptions",
    "Reader",
    "_files",
    "_form",
    "entry_digest",
    "files_read",
    "read_file",
]
