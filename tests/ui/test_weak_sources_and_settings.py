"""Weak sources editor statistics, user settings on disk, new and recent projects."""

from __future__ import annotations

import json

from sqlalchemy import select

from workbench import settings as settings_module
from workbench.settings import SCHEMA_VERSION, Settings, load_settings, save_settings
from workbench.store import queries
from workbench.store.schema import Item, LabelClass
from workbench.ui.weak_sources import source_statistics

from .conftest import add_proposals, unlabeled_ids


def test_statistics_by_hand():
    votes = {"a": {1: 10, 2: 10, 3: 20}, "b": {2: 10, 3: 30}, "c": {}}
    labels = {1: 10, 3: 30}
    stats = source_statistics(votes, labels, total=10)
    assert stats["a"] == {"coverage": 0.3, "overlap": 0.2, "conflicts": 0.1, "accuracy": 0.5}
    assert stats["b"] == {"coverage": 0.2, "overlap": 0.2, "conflicts": 0.1, "accuracy": 1.0}
    assert stats["c"]["accuracy"] is None


def test_statistics_wait_until_shown(qtbot, window):
    editor = window.weak_sources
    editor.new_source()
    editor.name_edit.setText("every-png")
    editor.kind_box.setCurrentIndex(editor.kind_box.findData("path_rule"))
    editor.pattern_edit.setText(r"\.png$")
    editor.rule_class.setCurrentText("3")
    editor.save()
    window.open_project(window.project.folder)
    assert editor.statistics_row("every-png")["Coverage"] == ""
    window.docks["weak"].raise_()
    qtbot.waitUntil(lambda: editor.statistics_row("every-png")["Coverage"] == "100.0%")


def test_path_rule_and_prompts(qtbot, window):
    editor = window.weak_sources
    project = window.project
    with project.read() as session:
        labeled = session.execute(
            select(Item.path, LabelClass.name).join(LabelClass, LabelClass.id == Item.label_class_id)
            .order_by(Item.id)).all()
    path, class_name = labeled[0]
    editor.new_source()
    editor.name_edit.setText("one-file")
    editor.kind_box.setCurrentIndex(editor.kind_box.findData("path_rule"))
    editor.pattern_edit.setText(path.rsplit("/", 1)[-1])
    editor.rule_class.setCurrentText(class_name)
    editor.save()
    row = editor.statistics_row("one-file")
    assert row["Coverage"] == f"{100 / 1797:.1f}%"
    assert row["Accuracy"] == "100.0%"

    editor.new_source()
    editor.name_edit.setText("clip-digits")
    editor.kind_box.setCurrentIndex(editor.kind_box.findData("clip_prompts"))
    editor.templates.item(0, 1).setText("a handwritten digit {}; the number {}")
    editor.save()
    with project.read() as session:
        sources = {s["name"]: s for s in queries.weak_sources(session)}
    first_class = editor.templates.item(0, 0).text()
    assert sources["clip-digits"]["definition"]["templates"][first_class] == [
        "a handwritten digit {}", "the number {}"]
    # Votes from a weak-label job's evidence count for the prompt set.
    items = unlabeled_ids(project, 3)
    add_proposals(project, [(i, "1", 0.8, "weak_label", {"votes": {"clip-digits": "1"}})
                            for i in items], job_kind="weak-labels")
    editor.reload()
    assert editor.statistics_row("clip-digits")["Coverage"] == f"{300 / 1797:.1f}%"
    assert editor.statistics_row("clip-digits")["Accuracy"] == "n/a"


def test_invalid_sources_give_messages(qtbot, window):
    editor = window.weak_sources
    editor.new_source()
    editor.name_edit.setText("broken")
    editor.kind_box.setCurrentIndex(editor.kind_box.findData("path_rule"))
    editor.pattern_edit.setText("digit_(")
    editor.save()
    assert "Invalid pattern 'digit_('" in window.statusBar().currentMessage()
    editor.kind_box.setCurrentIndex(editor.kind_box.findData("clip_prompts"))
    editor.templates.item(0, 1).setText("no placeholder")
    editor.save()
    assert "has no {} for the class name" in window.statusBar().currentMessage()
    with window.project.read() as session:
        assert queries.weak_sources(session) == []


def test_settings_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    settings = Settings(device="cpu", thumbnail_size=96, accept_threshold=0.8)
    save_settings(settings, path)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert load_settings(path) == settings


def test_settings_migration_and_bad_files(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"threshold": 0.7, "device": "cpu"}))
    migrated = load_settings(path)
    assert (migrated.accept_threshold, migrated.job_threshold, migrated.device) == (0.7, 0.7, "cpu")
    path.write_text("{not json")
    assert load_settings(path) == Settings()
    path.write_text(json.dumps({"schema_version": 1, "thumbnail_size": 13}))
    assert load_settings(path) == Settings()


def test_settings_live_in_isolated_config_dir(qtbot, window):
    path = settings_module.settings_path()
    assert str(path).startswith(str(settings_module.Path.home().parent))
    window.apply_settings(Settings(device="cpu", thumbnail_size=96, accept_threshold=0.7,
                                   recent_projects=window.settings.recent_projects))
    assert load_settings().thumbnail_size == 96
    assert window.thumbnails.size == 96
    assert window.review.batch.threshold.value() == 0.7
    assert window.jobs_panel.launcher.form.values()["device"] == "cpu"


def test_new_and_recent_projects(qtbot, window, tmp_path):
    opened = window.project.folder
    assert load_settings().recent_projects[0] == str(opened)
    assert window.new_project(tmp_path / "fresh")
    assert window.item_model.rowCount() == 0
    assert "No pending proposals" in window.review.preview.text()
    assert not window.new_project(tmp_path / "fresh")
    assert "already has a project" in window.statusBar().currentMessage()
    recent = [a.text() for a in window.recent_menu.actions()]
    assert recent[:2] == [str((tmp_path / "fresh").resolve()), str(opened)]
    window.recent_menu.actions()[1].trigger()
    assert window.project.folder == opened
