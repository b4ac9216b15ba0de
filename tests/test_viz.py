"""The figures of `co2net.viz` as a reader meets them: in a real Jupyter kernel, and inside the explorer widget.

The plotting functions themselves are tested in `nbs/08_visualize.ipynb`. Here we check the two places where a
figure used to show up as the text `<Figure size ...>`: a plain kernel running the chapter's setup cell, and the
`ProposalExplorer` widget, whose parts a browser test finds by CSS class.
"""
import io, json, sys
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT/'nbs'/'08_visualize.ipynb'
sys.path.insert(0, str(ROOT/'tests'))
from run_notebooks import output_problems   # errors, figures as text, control codes: the kernel-run checks


def hand_videos():
    "The chapter's hand-made video: 12 snippets, 2 classes; at threshold 0.5 two runs, at 0.15 one."
    attn = np.array([0.1, 0.2, 0.9, 0.8, 0.6, 0.3, 0.2, 0.3, 0.7, 0.95, 0.4, 0.1])
    cas = np.zeros((12, 3)); cas[:, 0] = np.arange(12) / 4; cas[:, 1] = 1 - np.arange(12) / 12; cas[:, 2] = 0.5
    return {'hand': (cas, attn)}


def walk(widget):
    "The widget and every widget inside it."
    yield widget
    for child in getattr(widget, 'children', ()): yield from walk(child)


def one_with_class(root, css):
    found = [w for w in walk(root) if css in w._dom_classes]
    assert len(found) == 1, f'{len(found)} widgets with class {css!r} in the explorer'
    return found[0]


def test_explorer_parts_by_css_class():
    import ipywidgets as W
    from PIL import Image
    from co2net.viz import ProposalExplorer
    ex = ProposalExplorer(hand_videos(), class_names=['up', 'down'], threshold=0.5)
    assert 'co2net-explorer' in ex.widget._dom_classes
    plot, table = one_with_class(ex.widget, 'co2net-explorer-plot'), one_with_class(ex.widget, 'co2net-explorer-table')
    slider = one_with_class(ex.widget, 'co2net-explorer-threshold')
    assert isinstance(plot, W.Image) and isinstance(table, W.HTML) and isinstance(slider, W.FloatSlider)
    assert slider.description == 'threshold' and slider.value == 0.5
    picture = Image.open(io.BytesIO(plot.value))
    assert picture.format == plot.format.upper() == 'JPEG' and picture.size == (800, 260)   # 8 x 2.6 in at 100 dpi
    assert '2 proposal(s)' in table.value


def test_moving_the_threshold_redraws_table_and_picture():
    from co2net.viz import ProposalExplorer
    ex = ProposalExplorer(hand_videos(), class_names=['up', 'down'], threshold=0.5)
    plot, table = one_with_class(ex.widget, 'co2net-explorer-plot'), one_with_class(ex.widget, 'co2net-explorer-table')
    slider = one_with_class(ex.widget, 'co2net-explorer-threshold')
    before = table.value, plot.value
    slider.value = 0.15                                   # what dragging the slider does
    assert '1 proposal(s)' in table.value and table.value != before[0]
    assert plot.value != before[1]
    slider.value = 0.5
    assert (table.value, plot.value) == before            # same state, same table and same bytes


def test_explorer_without_plot_has_no_picture():
    import ipywidgets as W
    from co2net.viz import ProposalExplorer
    ex = ProposalExplorer(hand_videos(), plot=False)
    assert not [w for w in walk(ex.widget) if isinstance(w, W.Image)]
    assert ex.snapshot()[0].data == ex.table.value        # the snapshot is the table alone


def test_plot_matches_colours_are_the_evaluators_matches():
    "Rows in score order, green exactly where the evaluator counts a match (a duplicate falls back at 0.1, not at 0.5)."
    from co2net.viz import plot_matches
    gt = {'video': np.array(['a', 'a']), 'label': np.array([0, 0]), 'start': np.array([0., 10.]), 'end': np.array([10., 20.])}
    dets = {'video': np.array(['a'] * 3), 'label': np.zeros(3, int), 'start': np.array([2., 0., 0.]),
            'end': np.array([12., 10., 10.]), 'score': np.array([0.8, 0.9, 0.7])}      # in score order: [0,10), [2,12), [0,10)
    for t_iou, expected in ((0.1, ['tp', 'tp', 'fp']), (0.5, ['tp', 'fp', 'fp'])):
        ax = plot_matches(gt, dets, t_iou).axes[0]
        rows = sorted((p.get_y(), p.get_gid()) for p in ax.patches if p.get_gid() in ('tp', 'fp'))
        assert [gid for _, gid in rows] == expected, (t_iou, rows)
        scores_tious = [t.get_text().split() for t in ax.texts if t.get_text().count('.') == 2]
        assert scores_tious == [['0.90', '1.00'], ['0.80', '0.67'], ['0.70', '1.00']]   # best tIoU of [2,12): 8/12


def test_gate_heatmaps_have_a_colour_bar_on_the_0_1_scale():
    from co2net.viz import plot_gates
    gates = {'rgb': np.full((5, 3), 0.2), 'flow': np.linspace(0, 1, 15).reshape(5, 3)}
    fig = plot_gates(gates)
    assert len(fig.axes) == 5 and fig.axes[-1].get_ylabel() == 'gate value'          # maps, mean bars, one colour bar
    assert tuple(fig.axes[-1].get_ylim()) == (0.0, 1.0)
    assert [ax.images[0].get_clim() for ax in (fig.axes[0], fig.axes[2])] == [(0, 1), (0, 1)]


def chapter_setup_cell() -> str:
    "The hidden setup cell of the chapter: the one that holds the figure settings."
    cells = json.loads(CHAPTER.read_text())['cells']
    setup = [''.join(c['source']) for c in cells if c['cell_type'] == 'code' and 'InlineBackend' in ''.join(c['source'])]
    assert setup, f'{CHAPTER.name}: no setup cell with the InlineBackend settings'
    return setup[0]


def test_plain_kernel_shows_figures_as_images(tmp_path):
    "Run the chapter's setup cell, a returned figure and the explorer in a fresh python3 kernel, as JupyterLab does."
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    cells = [chapter_setup_cell(),
             'from co2net.viz import plot_attention\nplot_attention(np.linspace(0, 1, 5))',
             'from co2net.viz import ProposalExplorer\n'
             f'ex = ProposalExplorer({{"hand": ({hand_videos()["hand"][0].tolist()}, {hand_videos()["hand"][1].tolist()})}})\n'
             'ex.threshold_w.value = 0.15\ndisplay(*ex.snapshot())\nex']
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nbclient.NotebookClient(nb, timeout=300, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    assert output_problems(nb) == []
    figure, explorer = nb.cells[1].outputs, nb.cells[2].outputs
    assert any('image/jpeg' in o.get('data', {}) for o in figure)                    # the returned Figure is a picture
    kinds = [sorted(o.get('data', {})) for o in explorer]
    assert kinds[0] == ['image/jpeg', 'text/plain'] and 'text/html' in kinds[1]       # snapshot: picture, table
    assert '1 proposal(s)' in explorer[1]['data']['text/html']
    assert 'application/vnd.jupyter.widget-view+json' in explorer[2]['data']          # then the live widget
    assert explorer[2]['data']['text/plain'].startswith('ProposalExplorer: video hand')
