"""Train page: a dry run and a real training by a real worker process, polled to the end; reload; cancel."""

from __future__ import annotations

from routing_core.engine.jobs import JobManager, training_slot
from routing_core.engine.train_request import TrainRequest
from routing_core.versions.registry import Registry
from tests.app.conftest import links, open_app, run_until, texts, wait_for_jobs
from tests.conftest import ADMIN

TRAIN = "pages/3_Train.py"


def finished(at) -> bool:
    return bool(at.main.success or at.main.error or at.main.warning)


def test_dry_run_then_training_to_a_version(small_sample, data_home, models_dir):
    at = open_app(TRAIN)
    assert at.selectbox(key="train_dataset").value == "sample"
    assert texts(at.main.info) == ["No training is running. Choose the options above and press Start."]

    at.toggle(key="train_dry_run").set_value(True)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert at.toast.values == ["Dry run queued."]
    run_until(at, finished)
    assert texts(at.main.success)[0].startswith("Dry run finished in ")
    assert texts(at.main.success)[0].endswith(": no version was written.")
    plan = {m.label: m.value for m in at.main.metric}
    assert plan["Items"] == "300" and plan["Operations"] == "1,671" and plan["Features"] == "10"
    dry = JobManager(models_dir, data_home).list()[0]
    assert dry["request"]["dry_run"] and plan["Estimated time"] == f"{dry['result']['estimated_sec']:.0f} s"
    assert Registry(models_dir).names() == []
    said = next(t for t in texts(at.main.markdown) if t.startswith("**The plan.**"))
    assert "240 items to learn from, 60 held out" in said and "named automatically when it is trained" in said
    assert not [e for e in at.get("json")]  # a readable plan, not raw JSON
    assert any(b.label == "Train it now" for b in at.button)

    at.toggle(key="train_dry_run").set_value(False)
    at.text_input(key="train_version").set_value("v-app")
    at.number_input(key="train_top_k").set_value(3)
    at.button(key="train_start").click().run()
    assert at.toast.values == ["Training queued."]
    run_until(at, lambda a: any("v-app" in t for t in texts(a.main.success)) or bool(a.main.error))
    assert not at.main.error, texts(at.main.error)
    info = Registry(models_dir).get("v-app")
    ready = texts(at.main.success)[0]
    assert ready.startswith("Version **v-app** is ready")
    # the held-out figures of the version just stored, as the page states them
    assert ready.endswith(f"routing accuracy {100 * info.metrics['routing_accuracy']:.1f} %, "
                          f"top-3 {100 * info.metrics['top_3_accuracy']:.1f} %."), ready
    assert ("Open v-app in Models", "Models") in links(at.main.page_link)
    stage_line = next(t for t in texts(at.main.caption) if t.startswith("Time per stage: "))
    assert [part.split()[0] for part in stage_line.removeprefix("Time per stage: ").split(" · ")] == [
        "validate", "profile", "split", "features", "fit", "evaluate", "save"]
    assert info.ok and info.params["top_k"] == 3 and info.dataset["name"] == "sample"
    # the warning stands exactly when the version does not beat its best baseline
    warned = any("no better than its best baseline" in t for t in texts(at.main.warning))
    assert warned == (not info.metrics["beats_baseline"])

    jobs = at.main.dataframe[0].value
    assert jobs["state"].tolist() == ["completed", "completed"]
    assert jobs["kind"].tolist() == ["training", "dry run"]
    assert jobs["version"].iloc[0] == "v-app"


def test_taken_version_name_is_refused(small_sample, data_home, models_dir):
    (models_dir / "v1").mkdir()  # a folder of that name exists (even a broken one)
    at = open_app(TRAIN)
    at.text_input(key="train_version").set_value("v1")
    at.button(key="train_start").click().run()
    assert texts(at.main.error) == ["A model version named 'v1' already exists; choose another name."]
    at.text_input(key="train_version").set_value("bad name")
    at.button(key="train_start").click().run()
    assert "is not allowed" in texts(at.main.error)[0]
    assert JobManager(models_dir, data_home).list() == []


def test_a_new_session_sees_running_and_queued_jobs_and_cancels(data_home, models_dir):
    open_app()  # a fresh start stores the 2,000-item sample: a training of a few seconds
    manager = JobManager(models_dir, data_home)
    with training_slot(models_dir):  # another training holds the folder: both jobs wait
        first = manager.submit(TrainRequest("sample", version="long-a"), user=ADMIN)
        queued = manager.submit(TrainRequest("sample", version="long-b"), user=ADMIN)

        at = open_app(TRAIN)  # another tab, or the same one after a reload
        assert not at.exception
        shown = [c.key for c in at.main.container if (c.key or "").startswith("train_job_")]
        assert shown == [f"train_job_{first}", f"train_job_{queued}"]
        assert [manager.get(j)["state"] for j in (first, queued)] == ["pending", "pending"]
        at.button(key=f"train_cancel_{queued}").click().run()
        assert manager.get(queued)["state"] == "cancelled"
        assert at.toast.values == ["Cancelling…"]
    # The folder is free: the first job runs (or is about to); cancel it too.
    at.button(key=f"train_cancel_{first}").click().run()
    wait_for_jobs(models_dir, data_home)
    at.run()
    assert manager.get(first)["state"] in ("cancelled", "completed")  # it may have finished first
    assert not Registry(models_dir).exists("long-b")
    jobs = at.main.dataframe[0].value.set_index("version")
    assert jobs.loc["long-b", "state"] == "cancelled"


def test_train_it_now_after_a_dry_run_trains_that_plan(small_sample, models_dir):
    at = open_app(TRAIN)
    at.toggle(key="train_dry_run").set_value(True)
    at.text_input(key="train_version").set_value("v-planned")
    at.slider(key="train_test_size").set_value(0.05)  # 15 of 300 items held out: said to be rough
    at.button(key="train_start").click().run()
    run_until(at, finished)
    assert any("only 15 held-out items" in t for t in texts(at.main.warning))
    now = next(b for b in at.button if b.label == "Train it now")
    now.click().run()
    assert not at.exception
    run_until(at, lambda a: any("v-planned" in t and "is ready" in t for t in texts(a.main.success))
              or bool(a.main.error))
    info = Registry(models_dir).get("v-planned")
    assert info.metrics["test_items"] == 15 and info.params["test_size"] == 0.05


def test_a_dated_dataset_can_hold_out_its_newest_items(data_home, models_dir):
    import pandas as pd

    from routing_core.datasets import DatasetStore, load_dataset
    from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes

    frame = pd.read_csv(pd.io.common.BytesIO(sample_csv_bytes(SampleConfig(n_items=60, seed=3))),
                        dtype={"item_code": str})
    codes = sorted(frame["item_code"].unique())
    frame["valid_from"] = frame["item_code"].map(
        {c: f"{1 + i % 28:02d}.{1 + i // 28:02d}.2024" for i, c in enumerate(codes)})  # day first
    DatasetStore(data_home).save("dated", load_dataset(frame.to_csv(index=False).encode(), name="dated.csv"), user=ADMIN)
    at = open_app(TRAIN)
    at.selectbox(key="train_dataset").set_value("dated").run()
    options = at.radio(key="train_split").options
    assert len(options) == 2 and options[1].startswith("the newest items by a date")
    at.radio(key="train_split").set_value("newest").run()
    assert at.selectbox(key="train_date_column").options == ["valid_from"]
    assert at.number_input(key="train_seed").disabled  # the seed orders a random split only
    at.toggle(key="train_dry_run").set_value(True)
    at.button(key="train_start").click().run()
    assert not at.exception
    run_until(at, finished)
    said = next(t for t in texts(at.main.markdown) if t.startswith("**The plan.**"))
    # 60 items: 48 to learn from, the 12 newest (items 49-60: 21.02.2024 to 04.03.2024) held out
    assert "48 items to learn from, 12 held out" in said
    assert "newest 20 % by valid_from (held out from 2024-02-21, trained up to 2024-02-20)" in said
