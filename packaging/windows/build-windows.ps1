# Build the Windows bundle and installer: run from the repository root in
# PowerShell, with Python 3.10 or newer and Inno Setup 6 (iscc on PATH).
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build-windows.ps1
# PyPI's torch for Windows is the CPU-only build; for CUDA, install torch
# from the PyTorch CUDA index into .venv before running this script.
$ErrorActionPreference = "Stop"
if (-not (Test-Path .venv)) { py -3 -m venv .venv }
.venv\Scripts\python -m pip install -e ".[bundle]"
$version = .venv\Scripts\python -c "import importlib.metadata as m; print(m.version('workbench'))"
.venv\Scripts\python -m PyInstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\workbench.spec
$env:QT_QPA_PLATFORM = "offscreen"
dist\workbench\workbench.exe --smoke-test
if ($LASTEXITCODE -ne 0) { throw "The bundle's smoke test failed (exit code $LASTEXITCODE)." }
Remove-Item Env:QT_QPA_PLATFORM
iscc "/DAppVersion=$version" packaging\windows\workbench.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed (exit code $LASTEXITCODE)." }
