"""The tutorial's diagrams, drawn in code with matplotlib only (boxes, arrows and text; no data, no model).

Usage: python bench/make_figures.py [--out nbs/images] [--png DIR] [--only co2net_architecture ccm successors]

Writes, into --out (the committed copies live in nbs/images/):
  co2net_architecture.svg  CO2-Net on one video: features X -> two cross-modal consensus modules (CCM) ->
                           attention units -> fusion -> classifier, with the tensor shapes; then which
                           outputs each training loss consumes, and the localization path of inference.
  ccm.svg                  one CCM up close: global context g of the main modality, local context l of the
                           auxiliary one, the gate sigma(g * l) on the main features.
  successors.svg           where DELU (two losses added, same network) and DDG-Net (a snippet graph in place of
                           the CCMs, two more losses) change CO2-Net.
--png DIR also writes a PNG of each figure (for looking at them; not committed). The SVGs are reproducible
(fixed ids, no date) and keep their text as paths, so they look the same in every browser.
Symbols follow the notation table of the index (D channels per modality, background = column C of S, ...).
Embed from a notebook in nbs/:  ![CO2-Net](images/co2net_architecture.svg)
"""
from __future__ import annotations
import argparse
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch, FancyArrowPatch, Circle, Rectangle

ROOT = Path(__file__).resolve().parents[1]
RGB, FLOW, INK, TRAIN, INFER, GREY, NEW = '#b8312f', '#2565ae', '#2b2b2b', '#7a3e9d', '#1e7b45', '#6b6b6b', '#b7700d'
PALE = {RGB: '#fbeceb', FLOW: '#eaf1fa', INK: '#ffffff', TRAIN: '#f6f0fa', INFER: '#edf7f0', GREY: '#f4f4f4', NEW: '#fdf3e3'}
FS = 9.5          # body text (pt); figures are drawn 1 data unit = 1 inch, about 10 inches wide
plt.rcParams.update({'svg.fonttype': 'path', 'svg.hashsalt': 'co2net', 'font.family': 'DejaVu Sans',
                     'mathtext.fontset': 'dejavusans', 'font.size': FS})

class Box:
    "A rounded box at (x, y) with width w, height h (inches), and its anchor points."
    def __init__(self, ax, x, y, w, h, text='', color=INK, fill=None, fs=FS, lw=1.1, ls='-', weight='normal',
                 text_color=INK, ha='center', linespacing=1.35, round_=0.05):
        self.x, self.y, self.w, self.h = x, y, w, h
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=f'round,pad=0,rounding_size={round_}', lw=lw, ls=ls,
                                    ec=color, fc=PALE.get(color, '#ffffff') if fill is None else fill, zorder=2))
        if text:
            tx = x + w / 2 if ha == 'center' else x + 0.1
            ax.text(tx, y + h / 2, text, ha=ha, va='center', fontsize=fs, color=text_color, weight=weight,
                    linespacing=linespacing, zorder=3)
    l = property(lambda s: s.x)
    r = property(lambda s: s.x + s.w)
    b = property(lambda s: s.y)
    t = property(lambda s: s.y + s.h)
    cx = property(lambda s: s.x + s.w / 2)
    cy = property(lambda s: s.y + s.h / 2)

def arrow(ax, *pts, color=INK, lw=1.2, ls='-', head=True):
    "A polyline through `pts` (inches) with an arrow head on its last segment."
    last = len(pts) - (1 if ls != '-' else 2)          # a dashed line is drawn whole, its head solid on top
    for p, q in zip(pts[:last], pts[1:last + 1]):
        ax.plot([p[0], q[0]], [p[1], q[1]], color=color, lw=lw, ls=ls, solid_capstyle='butt', zorder=1)
    (px, py), (qx, qy) = pts[-2], pts[-1]
    if ls != '-':
        n = max(((qx - px) ** 2 + (qy - py) ** 2) ** 0.5, 1e-9)
        px, py = qx - 0.12 * (qx - px) / n, qy - 0.12 * (qy - py) / n
    ax.add_patch(FancyArrowPatch((px, py), (qx, qy), arrowstyle='-|>' if head else '-', mutation_scale=11, color=color,
                                 lw=lw, shrinkA=0, shrinkB=0, zorder=1))

def label(ax, x, y, s, color=INK, fs=FS - 0.5, ha='center', va='center', **kw):
    ax.text(x, y, s, color=color, fontsize=fs, ha=ha, va=va, zorder=4, **kw)

def canvas(w, h):
    fig = plt.figure(figsize=(w, h))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w); ax.set_ylim(0, h); ax.set_aspect('equal'); ax.axis('off')
    return fig, ax

def panel(ax, x, y, w, h, color, title, ls='-'):
    "A framed region with a title in its top-left corner."
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0,rounding_size=0.08', lw=1.3, ls=ls, ec=color,
                                fc=PALE.get(color, '#ffffff'), zorder=0))
    ax.text(x + 0.15, y + h - 0.2, title, color=color, fontsize=FS + 0.5, weight='bold', ha='left', va='center', zorder=4)

# ------------------------------------------------------------------------------------------------ CO2-Net
def architecture():
    "CO2-Net on one video, the consumers of its outputs: the losses (training) and localization (inference)."
    W, H = 10.0, 8.45
    fig, ax = canvas(W, H)
    # ---- the network (training and inference)
    panel(ax, 0.05, 3.97, W - 0.1, H - 4.02, INK, 'CO2-Net on one video (training and inference)')
    label(ax, 0.2, H - 0.45, 'channels x time inside the network, outputs time-first; '
          'THUMOS14: D = 1024, C = 20, T = 500 in training', color=GREY, fs=FS - 1.5, ha='left')
    # legend (top right)
    lx, ly = 6.95, H - 0.2
    for i, (c, ls, txt) in enumerate([(RGB, '-', 'RGB'), (FLOW, '-', 'flow'), (INK, '--', 'auxiliary input')]):
        x0 = lx + [0, 0.75, 1.55][i]
        ax.plot([x0, x0 + 0.28], [ly, ly], color=c, lw=2 if ls == '-' else 1.2, ls=ls)
        label(ax, x0 + 0.34, ly, txt, fs=FS - 1, ha='left')
    y_ar, y_r, y_m, y_f, y_af = 7.65, 6.85, 5.97, 5.09, 4.31
    X = Box(ax, 0.15, y_m - 0.42, 0.78, 0.84, '$X$\n(T, 2D)\nI3D', fs=FS)
    Xr = Box(ax, 1.15, y_r - 0.3, 0.72, 0.6, '$X^r$\n(T, D)', color=RGB)
    Xf = Box(ax, 1.15, y_f - 0.3, 0.72, 0.6, '$X^f$\n(T, D)', color=FLOW)
    arrow(ax, (X.r, y_m + 0.25), (X.r + 0.1, y_m + 0.25), (Xr.l - 0.1, y_r), (Xr.l, y_r), color=RGB)
    arrow(ax, (X.r, y_m - 0.25), (X.r + 0.1, y_m - 0.25), (Xf.l - 0.1, y_f), (Xf.l, y_f), color=FLOW)
    ccm_text = ('CCM, {m} main\n$g$ = global context of $X^{a}$  (D, 1)\n$l$ = local context of $X^{b}$  (D, T)\n'
                r'$\bar{{X}}{{}}^{a} = \sigma(g \odot l) \odot X^{a}$')
    Cr = Box(ax, 2.45, y_r - 0.44, 2.1, 0.88, ccm_text.format(m='RGB', a='r', b='f'), color=RGB, fs=FS - 0.5)
    Cf = Box(ax, 2.45, y_f - 0.44, 2.1, 0.88, ccm_text.format(m='flow', a='f', b='r'), color=FLOW, fs=FS - 0.5)
    # main inputs (solid), auxiliary inputs (dashed, crossing over)
    arrow(ax, (Xr.r, y_r + 0.12), (Cr.l, y_r + 0.12), color=RGB, lw=1.6)
    arrow(ax, (Xf.r, y_f - 0.12), (Cf.l, y_f - 0.12), color=FLOW, lw=1.6)
    arrow(ax, (Xr.r, y_r - 0.2), (Cf.l, y_f + 0.26), color=RGB, ls='--')
    arrow(ax, (Xf.r, y_f + 0.2), (Cr.l, y_r - 0.26), color=FLOW, ls='--')
    label(ax, (Xr.r + Cr.l) / 2, y_r + 0.26, 'main', color=RGB, fs=FS - 1.5)
    label(ax, (Xf.r + Cf.l) / 2, y_f - 0.26, 'main', color=FLOW, fs=FS - 1.5)
    # gated features -> attention units and fusion
    jx = 4.85
    Ar = Box(ax, 5.1, y_ar - 0.25, 1.55, 0.5, 'attention unit\nconv3, conv3, conv1, $\\sigma$', color=RGB, fs=FS - 1)
    Af = Box(ax, 5.1, y_af - 0.25, 1.55, 0.5, 'attention unit\nconv3, conv3, conv1, $\\sigma$', color=FLOW, fs=FS - 1)
    F = Box(ax, 5.1, y_m - 0.33, 1.55, 0.66, r'concat $[\bar{X}{}^r; \bar{X}{}^f]$' + '\n(2D, T), 1x1 conv,\nLReLU, dropout',
            fs=FS - 1)
    arrow(ax, (Cr.r, y_r), (jx, y_r), (jx, y_ar), (Ar.l, y_ar), color=RGB, lw=1.4)
    arrow(ax, (jx, y_r), (jx, y_m + 0.15), (F.l, y_m + 0.15), color=RGB, lw=1.4)
    arrow(ax, (Cf.r, y_f), (jx, y_f), (jx, y_af), (Af.l, y_af), color=FLOW, lw=1.4)
    arrow(ax, (jx, y_f), (jx, y_m - 0.15), (F.l, y_m - 0.15), color=FLOW, lw=1.4)
    label(ax, jx + 0.1, y_r + 0.01, r'$\bar{X}{}^r$  (D, T)', color=RGB, ha='left')
    label(ax, jx + 0.1, y_f - 0.01, r'$\bar{X}{}^f$  (D, T)', color=FLOW, ha='left')
    # fused attention
    A = Box(ax, 7.35, y_r - 0.25, 2.2, 0.5, r'$a = (a^r + a^f)\,/\,2$   (T, 1)', lw=1.6)
    ax_ = 8.2
    arrow(ax, (Ar.r, y_ar), (ax_, y_ar), (ax_, A.t), color=RGB, lw=1.4)
    label(ax, (Ar.r + ax_) / 2, y_ar + 0.15, '$a^r$  (T, 1)', color=RGB)
    ex = 9.78
    arrow(ax, (Af.r, y_af), (ex, y_af), (ex, y_r), (A.r, y_r), color=FLOW, lw=1.4)
    label(ax, (Af.r + 8.2) / 2, y_af - 0.15, '$a^f$  (T, 1)', color=FLOW)
    # fusion -> Z -> classifier -> S
    K = Box(ax, 7.3, y_m - 0.3, 0.95, 0.6, 'classifier\nconv3, conv1', fs=FS - 1)
    S = Box(ax, 8.48, y_m - 0.33, 1.12, 0.66, '$S$  (T, C+1)\nthe T-CAM;\ncolumn C = bg', fs=FS - 1.5, lw=1.6)
    arrow(ax, (F.r, y_m), (K.l, y_m), lw=1.4)
    label(ax, (F.r + K.l) / 2, y_m + 0.17, '$Z$ (T, 2D)', fs=FS - 1)
    arrow(ax, (K.r, y_m), (S.l, y_m), lw=1.4)

    # ---- training: which outputs feed which loss
    top, nb = 3.62, 3.97
    panel(ax, 0.05, 0.05, 5.95, top - 0.05, TRAIN, 'training only: the losses (Eq. 10)', ls='--')
    arrow(ax, (3.0, nb), (3.0, top), color=TRAIN, lw=1.6)
    label(ax, 3.1, (nb + top) / 2, 'Z, S, a, $a^r$, $a^f$', color=TRAIN, ha='left', fs=FS - 1)
    label(ax, 0.2, 3.08, r'$S^{\mathrm{supp}} = a\,(S - \min_c S) + \min_c S$  (T, C+1): suppressed T-CAM',
          ha='left', fs=FS - 1)
    label(ax, 0.2, 2.78, r'$p^{\mathrm{bg}}_t = \mathrm{softmax}_c(S_t)_C$  (T,): background probability',
          ha='left', fs=FS - 1)
    cols = [('$S$', INK), (r'$S^{\mathrm{supp}}$', INK), ('$Z$', INK), ('$a$', INK), ('$a^r$', RGB), ('$a^f$', FLOW),
            (r'$p^{\mathrm{bg}}$', INK)]
    cx = [1.32 + 0.36 * i for i in range(len(cols))]
    hy = 2.42
    label(ax, 0.78, hy, 'weight', color=GREY, fs=FS - 2, ha='left')
    for x, (s, c) in zip(cx, cols): label(ax, x, hy, s, color=c, fs=FS)
    rows = [(r'$\mathcal{L}_{\mathrm{mil}}$', '', {0, 1},
             'top-k mean over time, $k = \\lfloor T/7 \\rfloor$; target\n$[y, 1]$ on $S$, $[y, 0]$ on $S^{\\mathrm{supp}}$'),
            (r'$\mathcal{L}_{\mathrm{co}}$', r'$\alpha_3$', {1, 2},
             'same-class video pairs: features of $Z$\nweighted by softmax over time of $S^{\\mathrm{supp}}$'),
            (r'$\mathcal{L}_{\mathrm{ml}}$', r'$\alpha_4$', {4, 5},
             '$a^r$ and $a^f$ pulled together (MSE, each\ntowards the other\'s detached copy)'),
            (r'$\mathcal{L}_{\mathrm{norm}}$', r'$\alpha_1$', {3, 4, 5}, 'mean attention, for $a$, $a^r$, $a^f$'),
            (r'$\mathcal{L}_{\mathrm{opp}}$', r'$\alpha_2$', {3, 4, 5, 6},
             r'$|1 - a_t - p^{\mathrm{bg}}_t|$, for $a$, $a^r$, $a^f$')]
    ys = [2.04, 1.64, 1.24, 0.88, 0.56]
    ax.plot([0.2, 5.85], [hy - 0.16, hy - 0.16], color=TRAIN, lw=0.6)
    for y, (name, weight, used, what) in zip(ys, rows):
        label(ax, 0.22, y, name, ha='left', fs=FS + 0.5)
        if weight: label(ax, 0.78, y, weight, ha='left', color=GREY, fs=FS - 1)
        for i, x in enumerate(cx):
            c = RGB if i == 4 else FLOW if i == 5 else INK
            if i in used: ax.add_patch(Circle((x, y), 0.055, color=c, zorder=3))
            else: ax.add_patch(Circle((x, y), 0.02, color='#c8c8c8', zorder=3))
        label(ax, 3.72, y, what, ha='left', fs=FS - 1.5, linespacing=1.25)
    label(ax, 0.2, 0.14, r'$\mathcal{L} = \mathcal{L}_{\mathrm{mil}}(S) + \mathcal{L}_{\mathrm{mil}}(S^{\mathrm{supp}})'
          r' + \alpha_3\mathcal{L}_{\mathrm{co}} + \alpha_4\mathcal{L}_{\mathrm{ml}} + \alpha_1\mathcal{L}_{\mathrm{norm}}'
          r' + \alpha_2\mathcal{L}_{\mathrm{opp}}$   ($\alpha_{1..4}$ = 0.8, 0.8, 1, 1)', ha='left', fs=FS - 1.5, va='bottom')

    # ---- inference: localization
    x0 = 6.15
    panel(ax, x0, 0.05, W - x0 - 0.05, top - 0.05, INFER, 'inference: localization')
    arrow(ax, (7.9, nb), (7.9, top), color=INFER, lw=1.6)
    label(ax, 8.0, (nb + top) / 2, 'S, a (dropout off)', color=INFER, ha='left', fs=FS - 1)
    steps = [r'$\hat S = S \odot a$   (T, C+1)',
             r'$p$: top-k mean of $\hat S$, $k = \lfloor T/10 \rfloor$, softmax;' + '\nclasses with $p_c \\geq 0.2$',
             r'10 thresholds $\theta$ on $a$ $\rightarrow$ runs $[s, e]$' + '\n(the same runs for every class)',
             r'OIC score: inner $-$ outer of $\hat S_{:,c}$ ($\lambda$ = 0.25)' + '\n' + r'$+\,\gamma\, p_c$ ($\gamma$ = 0.2)',
             r'soft-NMS per class ($\sigma_{\mathrm{nms}}$ = 0.3, none removed)' + '\n'
             r'$\rightarrow$ detections (c, score, s, e+1)']
    ys = [3.0, 2.38, 1.72, 1.06, 0.4]
    hs = [0.32, 0.48, 0.48, 0.48, 0.48]
    prev = None
    for y, h, s in zip(ys, hs, steps):
        b = Box(ax, x0 + 0.15, y - h / 2, W - x0 - 0.35, h, s, color=INFER, fill='#ffffff', fs=FS - 1.5)
        if prev is not None: arrow(ax, (b.cx, prev.b), (b.cx, b.t), color=INFER, lw=1.2)
        prev = b
    return fig

# ------------------------------------------------------------------------------------------------ CCM
def ccm():
    "One cross-modal consensus module (paper Eq. 1-3), shown for the RGB-main branch."
    W, H = 10.0, 3.8
    fig, ax = canvas(W, H)
    yt, yb, ym = 2.55, 1.2, 1.875
    M = Box(ax, 0.1, yt - 0.32, 0.85, 0.64, '$M$  (D, T)\nmain', color=RGB)
    A = Box(ax, 0.1, yb - 0.32, 0.85, 0.64, '$A$  (D, T)\nauxiliary', color=FLOW)
    mean = Box(ax, 1.3, yt - 0.3, 1.05, 0.6, 'mean over\ntime', fs=FS - 1)
    cg = Box(ax, 2.85, yt - 0.3, 1.6, 0.6, 'conv3, D to D, on a\nlength-1 input (linear)', fs=FS - 1)
    cl = Box(ax, 2.85, yb - 0.3, 1.6, 0.6, 'conv3 over time\nD to D', fs=FS - 1)
    ag = Box(ax, 4.85, yt - 0.3, 1.05, 0.6, 'LReLU,\ndropout 0.5', fs=FS - 1)
    al = Box(ax, 4.85, yb - 0.3, 1.05, 0.6, 'LReLU,\ndropout 0.5', fs=FS - 1)
    g = Box(ax, 6.25, yt - 0.3, 0.85, 0.6, '$g$\n(D, 1)', color=RGB, lw=1.6)
    l = Box(ax, 6.25, yb - 0.3, 0.85, 0.6, '$l$\n(D, T)', color=FLOW, lw=1.6)
    arrow(ax, (M.r, yt), (mean.l, yt), color=RGB)
    arrow(ax, (mean.r, yt), (cg.l, yt), color=RGB); label(ax, (mean.r + cg.l) / 2, yt + 0.15, '(D, 1)', fs=FS - 1)
    arrow(ax, (cg.r, yt), (ag.l, yt), color=RGB)
    arrow(ax, (ag.r, yt), (g.l, yt), color=RGB)
    arrow(ax, (A.r, yb), (cl.l, yb), color=FLOW)
    arrow(ax, (cl.r, yb), (al.l, yb), color=FLOW)
    arrow(ax, (al.r, yb), (l.l, yb), color=FLOW)
    label(ax, (mean.l + ag.r) / 2, yt + 0.5, 'global context of the main modality (Eq. 1)', color=RGB, fs=FS - 1)
    label(ax, (A.r + al.r) / 2, yb - 0.5, 'local context of the auxiliary modality (Eq. 2)', color=FLOW, fs=FS - 1)
    # product, sigmoid, gate
    p1 = (7.55, ym)
    ax.add_patch(Circle(p1, 0.17, ec=INK, fc='white', lw=1.2, zorder=2)); label(ax, *p1, r'$\odot$', fs=FS + 3)
    arrow(ax, (g.r, yt), (p1[0], yt), (p1[0], ym + 0.17), color=RGB)
    arrow(ax, (l.r, yb), (p1[0], yb), (p1[0], ym - 0.17), color=FLOW)
    label(ax, p1[0] - 0.24, ym, '$g \\odot l$\n(D, T)', fs=FS - 1, ha='right', va='center')
    sg = Box(ax, 7.95, ym - 0.22, 0.45, 0.44, r'$\sigma$', fs=FS + 1)
    arrow(ax, (p1[0] + 0.17, ym), (sg.l, ym))
    p2 = (9.0, ym)
    ax.add_patch(Circle(p2, 0.17, ec=INK, fc='white', lw=1.2, zorder=2)); label(ax, *p2, r'$\odot$', fs=FS + 3)
    arrow(ax, (sg.r, ym), (p2[0] - 0.17, ym))
    label(ax, (sg.r + p2[0]) / 2 - 0.05, ym - 0.34, 'gate\n(D, T)', fs=FS - 1)
    arrow(ax, (M.cx, M.t), (M.cx, 3.42), (p2[0], 3.42), (p2[0], ym + 0.17), color=RGB, lw=1.4)
    label(ax, 4.5, 3.57, '$M$ itself: the gate scales the raw main features (Eq. 3)', color=RGB, fs=FS - 1)
    out = Box(ax, 9.1, yb - 0.3, 0.82, 0.6, r'$\bar{M}$' + '\n(D, T)', color=RGB, lw=1.6)
    arrow(ax, (p2[0], ym - 0.17), (p2[0], out.t), color=RGB, lw=1.4)
    label(ax, 0.1, 0.2, r'RGB-main branch: $M = X^r$, $A = X^f$, output $\bar{X}{}^r$; the flow-main branch swaps them '
          r'(own weights). $\sigma(g \odot l)$ opens where $g$ and $l$ agree in sign, closes where they disagree, '
          '\nand stays near 0.5 where either is near 0. $g$ (D, 1) is broadcast over the T snippets of $l$. '
          'Dropout acts in training only.',
          ha='left', va='bottom', fs=FS - 1.5, color=GREY)
    return fig

# ------------------------------------------------------------------------------------------------ successors
def successors():
    "Where DELU (ECCV 2022) and DDG-Net (ICCV 2023) change CO2-Net: grey as in CO2-Net, amber new layers, purple new losses."
    W, H = 10.0, 5.2
    fig, ax = canvas(W, H)
    small = FS - 1.5
    # DELU: the same network, two losses more
    panel(ax, 0.05, 0.05, 4.2, H - 0.1, INK, 'DELU: the same network, two more losses')
    net = Box(ax, 0.3, 3.72, 3.7, 0.72, 'CO2-Net, unchanged\n(CCMs, attention units, fusion, classifier)', color=GREY,
              fill=PALE[GREY], fs=FS - 1)
    label(ax, 2.27, 3.55, r'$S^{\mathrm{supp}}$, $a$, $a^r$, $a^f$, $p^{\mathrm{bg}}$', fs=FS - 1, ha='left', color=TRAIN)
    e1 = Box(ax, 0.3, 2.05, 1.75, 1.15,
             r'$\mathcal{L}_{\mathrm{edl}}$: video-level' + '\nevidence $e$ from\n' + r'$S^{\mathrm{supp}}$ on the top-k' + '\nsnippets of $a$;\n'
             + r'weight $1 - u$', color=TRAIN, fill='#ffffff', fs=small, ls='--')
    e2 = Box(ax, 2.25, 2.05, 1.75, 1.15,
             r'$\mathcal{L}_{\mathrm{uct}}$: the $\mathcal{L}_{\mathrm{opp}}$' + '\nintegrand weighted by\na curve $c_r$ over the\nsnippets ranked by\n'
             + r'uncertainty, moving with $\delta$', color=TRAIN, fill='#ffffff', fs=small, ls='--')
    arrow(ax, (e1.cx, 3.38), (e1.cx, e1.t), color=TRAIN); arrow(ax, (e2.cx, 3.38), (e2.cx, e2.t), color=TRAIN)
    ax.plot([e1.cx, e2.cx], [3.38, 3.38], color=TRAIN, lw=1.2); ax.plot([2.15, 2.15], [3.38, net.b], color=TRAIN, lw=1.2)
    label(ax, 0.3, 1.8, r'$u = C / \Sigma_\alpha$: uncertainty ($\Sigma_\alpha$: Dirichlet strength)' + '\n'
          r'$\delta$: training progress, from 1 down to $-1$' + '\n'
          'every CO2-Net loss is kept; inference is unchanged', ha='left', va='top', fs=small, linespacing=1.5)
    # key to the colours (bottom left)
    for i, (c, fill, ls, txt) in enumerate([(GREY, PALE[GREY], '-', 'as in CO2-Net'), (NEW, PALE[NEW], '-', 'new layers or steps'),
                                            (TRAIN, '#ffffff', '--', 'new training-only losses')]):
        y = 0.75 - 0.27 * i
        ax.add_patch(FancyBboxPatch((0.3, y - 0.08), 0.32, 0.16, boxstyle='round,pad=0,rounding_size=0.03', ec=c, fc=fill,
                                    lw=1.1, ls=ls))
        label(ax, 0.72, y, txt, ha='left', fs=small)
    # DDG-Net: a snippet graph in place of the CCMs
    x0 = 4.4
    panel(ax, x0, 0.05, W - x0 - 0.05, H - 0.1, INK, 'DDG-Net: a snippet graph replaces the CCMs')
    bw, gap = 2.45, 0.3
    xl = x0 + 0.2
    xr = xl + bw + gap
    chain = [(r'$X^r$, $X^f$  (raw halves, no gate)', GREY),
             ('first attention pass\n(the two attention units)', NEW),
             ('kinds of snippet: act / bg / amb\n' + r'($a^r, a^f$ both $\geq$ 0.5 / both < 0.5 / else)', NEW),
             (r'$\mathrm{Sim}$ (cosine, $\geq$ 0.8, top $k_g$)' + '\n' + r'$\rightarrow A^{\mathrm{act}}, A^{\mathrm{bg}}, A^{\mathrm{amb}}$', NEW)]
    chain2 = [('graph average + 2-layer GCN\nper kind, for each modality', NEW),
              (r"$X'^m = \frac{1}{2}X^m + \frac{1}{4}(X_{\mathrm{avg}} + X_{\mathrm{gcn}})$", NEW),
              ('second attention pass\n(the same units) $\\rightarrow a^r, a^f$', GREY),
              ('fusion, classifier as in CO2-Net\n' + r'$\rightarrow Z$, $S$, $a$', GREY)]
    ys = [4.35, 3.55, 2.75, 1.95]
    col = []
    for xx, ch in ((xl, chain), (xr, chain2)):
        prev = None
        for y, (s, c) in zip(ys, ch):
            b = Box(ax, xx, y - 0.3, bw, 0.6, s, fs=small, color=c, fill=PALE[c])
            if prev is not None: arrow(ax, (b.cx, prev.b), (b.cx, b.t))
            prev = b
        col.append(prev)
    arrow(ax, (col[0].r, col[0].cy), (xr - gap / 2, col[0].cy), (xr - gap / 2, ys[0]), (xr, ys[0]))
    losses = Box(ax, xl, 0.25, W - 0.25 - xl, 1.05,
                 r'losses: all of DELU ($\mathcal{L}_{\mathrm{edl}}$, $\mathcal{L}_{\mathrm{uct}}$ and every CO2-Net term), plus' + '\n'
                 r'$\mathcal{L}_{\mathrm{fc}}$: feature consistency, $\|X_{\mathrm{avg}} - X_{\mathrm{gcn}}\|$ on confident act / bg snippets' + '\n'
                 r'$\mathcal{L}_{\mathrm{cl}}$: complementary, $-\log(1 - p_c)$ for every absent class $c$ of each snippet',
                 color=TRAIN, fill='#ffffff', ls='--', fs=small, ha='left')
    arrow(ax, (col[1].cx, col[1].b), (col[1].cx, losses.t), color=TRAIN)
    return fig

FIGURES = {'co2net_architecture': architecture, 'ccm': ccm, 'successors': successors}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(ROOT/'nbs'/'images'), help='folder for the SVG files')
    ap.add_argument('--png', default=None, help='also write a PNG of each figure into this folder')
    ap.add_argument('--only', nargs='+', choices=sorted(FIGURES), default=list(FIGURES))
    args = ap.parse_args(argv)
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        fig = FIGURES[name]()
        fig.savefig(out/f'{name}.svg', metadata={'Date': None, 'Creator': None})
        line = f'{out/name}.svg ({(out/name).with_suffix(".svg").stat().st_size / 1024:.0f} kB'
        if args.png:
            Path(args.png).mkdir(parents=True, exist_ok=True)
            fig.savefig(Path(args.png)/f'{name}.png', dpi=100)
            line += f', PNG in {args.png}'
        print(line + ')')
        plt.close(fig)

if __name__ == '__main__': main()
