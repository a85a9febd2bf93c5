"""Command-line tasks: idempotent set-up, clear one-line errors."""

import shutil

from app import create_app


def test_init_demo_is_idempotent(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["init-demo", "--password", "another"])
    assert result.exit_code == 0
    assert "0 created" in result.output
    assert "deployed" not in result.output


def test_changed_diagram_deploys_a_new_version(make_app, tmp_path):
    bpmn = tmp_path / "bpmn"
    shutil.copytree(create_app.__globals__["ROOT"] / "bpmn", bpmn)
    app = make_app(tmp_path, BPMN_DIR=str(bpmn))
    path = bpmn / "survey_license_east_kazakhstan_2016.bpmn"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Intake channel?", "Channel?"), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["deploy"])
    assert result.exit_code == 0 and "v2" in result.output


def test_broken_diagram_fails_with_one_line_and_exit_2(make_app, tmp_path):
    bpmn = tmp_path / "bpmn"
    bpmn.mkdir()
    (bpmn / "broken.bpmn").write_text("<bpmn:definitions", encoding="utf-8")
    app = make_app(tmp_path / "first")
    app.config["BPMN_DIR"] = str(bpmn)
    result = app.test_cli_runner().invoke(args=["deploy"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "broken.bpmn" in result.output
