# Alembic reads the migration scripts from disk at run time, so they travel
# as source files beside the frozen modules, not only inside the archive.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files(
    "workbench.store",
    include_py_files=True,
    includes=["migrations/*.py", "migrations/versions/*.py", "alembic.ini"],
)
