"""The pages of the dashboard, in menu order; pages link to each other through these paths."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str


START = PageSpec("pages/0_Start.py", "Start", ":material/home:")
UPLOAD = PageSpec("pages/1_Upload.py", "Upload", ":material/upload_file:")
DATASET = PageSpec("pages/2_Dataset.py", "Dataset", ":material/table_chart:")
TRAIN = PageSpec("pages/3_Train.py", "Train", ":material/model_training:")
MODELS = PageSpec("pages/4_Models.py", "Models", ":material/inventory_2:")
PREDICT = PageSpec("pages/5_Predict.py", "Predict", ":material/route:")
CACHE = PageSpec("pages/6_Cache.py", "Cache", ":material/cached:")
ACTIVITY = PageSpec("pages/7_Activity.py", "Activity", ":material/history:")
ACCEPTED = PageSpec("pages/8_Accepted.py", "Accepted", ":material/task_alt:")

PAGES = (START, UPLOAD, DATASET, TRAIN, MODELS, PREDICT, ACCEPTED, CACHE, ACTIVITY)
