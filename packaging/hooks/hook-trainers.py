# trainers.registry imports each method module by name when a job runs, so
# PyInstaller's import analysis cannot see them; collect them all.
from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("trainers")
