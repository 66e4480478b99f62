# open_clip reads its model configurations (JSON) and the tokenizer's
# vocabulary file from its package folder at run time.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("open_clip")
