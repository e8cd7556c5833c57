"""A scenario file that ends its process at import: only the child it is loaded in goes."""

import os

os._exit(3)
