"""Bring your own model in a real browser: upload a torch.export program and an .npz test set
in the sidebar, move the sparsity slider, and the cards and the weight histogram change."""
from __future__ import annotations

import re

import browserlib as bl
import numpy as np
import torch
from playwright.sync_api import expect
from test_app_browser import LOAD_TIMEOUT_MS, SPARSITY, WEIGHTS_TITLE, assert_healthy, card_value, chart, move_slider
from torch import nn


def tiny_model_and_data(folder):
    """A small MLP on 1×8×8 inputs, trained for a moment on separable data, as .pt2 and .npz."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(600, 1, 8, 8, generator=gen)
    y = (x.flatten(1) @ torch.randn(64, 10, generator=gen)).argmax(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):  # enough to be well above chance, so pruning visibly costs accuracy
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    program = folder / "tiny.pt2"
    torch.export.save(torch.export.export(model, (x[:1],)), str(program))
    npz = folder / "tiny-test.npz"
    np.savez(npz, x=x.numpy().astype(np.float32), y=y.numpy().astype(np.int64))
    return program, npz


def test_upload_a_program_and_data_then_the_sparsity_slider_changes_cards_and_histogram(page, tmp_path):
    program, npz = tiny_model_and_data(tmp_path)
    proc, url = bl.start_streamlit(bl.PROJECT_APP, env={"COMPRESSION_LAB_CACHE": str(tmp_path / "c")})
    try:
        page.goto(url)
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=4, timeout_ms=LOAD_TIMEOUT_MS)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.locator('[data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="Upload your own…").click()
        expect(page.get_by_text("Upload a model file in the sidebar")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page)
        files = sidebar.locator('input[type="file"]')
        files.nth(0).set_input_files(str(program))
        # the file is listed once the server has it: only then does the button see it
        expect(sidebar.get_by_text(program.name, exact=True)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page)
        files.nth(1).set_input_files(str(npz))
        # the file is listed once the server has it: only then does the button see it
        expect(sidebar.get_by_text(npz.name, exact=True)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page)
        sidebar.get_by_role("button", name="Use this model").click()
        expect(page).to_have_url(re.compile(r"model=upload(%3A|:)[0-9a-f]{16}\.[0-9a-f]{16}"), timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=4, timeout_ms=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        assert_healthy(page)
        acc0, nz0 = card_value(page, "Accuracy"), card_value(page, "Non-zero params")
        assert acc0.endswith("%"), acc0  # measured on the uploaded test set, not "n/a"
        _, hist0 = chart(page, WEIGHTS_TITLE)

        move_slider(page, SPARSITY, "PageUp", 8, re.compile(r"[?&]sparsity=0\.8(&|$)"))
        assert_healthy(page)
        acc1, nz1 = card_value(page, "Accuracy"), card_value(page, "Non-zero params")
        _, hist1 = chart(page, WEIGHTS_TITLE)
        assert nz1 != nz0 and acc1 != acc0, (nz0, nz1, acc0, acc1)
        assert hist1 != hist0
    finally:
        bl.stop_streamlit(proc)
