"""Independent transcriptions of the official DELU (ECCV 2022) and DDG-Net (ICCV 2023) layer layouts and criteria.

Written for co2net's parity tests from the specs (DELU_SPEC.md, DDGNET_SPEC.md): the official files' module names,
construction order and operation order, in plain PyTorch, with the official options as attributes of `opt`. Only the
feature width is a parameter (the official code hard-codes 1024 channels per modality and 512 attention channels;
here they are n_feature // 2 and n_feature // 4). Both official repositories are MIT-licensed; this is not a copy.

Layout: `edl_loss.py` (evidence functions, EvidenceLoss), DELU's `model.py` (BWA_fusion_dropout_feat_v2, DELU,
DELU_ACT) and DDG-Net's `model.py` (DDG_Net, DDG's DELU and DELU_ACT, here DDG_DELU and DDG_DELU_ACT).
"""
from types import SimpleNamespace
import torch
import torch.nn as nn
import torch.nn.functional as F

# ------------------------------------------------------------------ options (options.py + the training scripts)
def delu_opt(dataset: str, **over):
    "DELU's options for 'thumos14' or 'activitynet12' (scripts/train_*.sh over options.py defaults)."
    base = dict(dropout_ratio=0.7, alpha1=0.8, alpha3=1.0, alpha4=1.0, k=7.0, rat_atn=9, num_class=20,
                max_seqlen=320, t=5, max_iter=5000, alpha_edl=1.3, alpha_uct_guide=0.4, amplitude=0.7, alpha2=0.4,
                lr=5e-5, weight_decay=1e-3)
    if dataset == 'activitynet12':
        base.update(k=5.0, rat_atn=5, num_class=100, max_seqlen=60, max_iter=22000, alpha_edl=1.2,
                    alpha_uct_guide=0.2, amplitude=0.2, alpha2=0.8, lr=3e-5, weight_decay=5e-4)
    return SimpleNamespace(**{**base, **over})

def ddgnet_opt(dataset: str, **over):
    "DDG-Net's options for 'thumos14' or 'activitynet12' (train_thumos.sh / train_activity.sh over options.py defaults)."
    base = dict(vars(delu_opt(dataset)), alpha5=3.2, alpha6=1.0, weight=2, temperature=0.5, action_threshold=0.5,
                background_threshold=0.5, similarity_threshold=0.8, top_k_rat=10)
    if dataset == 'activitynet12': base.update(alpha5=1.7, alpha6=0.5)
    return SimpleNamespace(**{**base, **over})

# ------------------------------------------------------------------ edl_loss.py
def exp_evidence(y):
    return torch.exp(torch.clamp(y, -10, 10))

def relu_evidence(y):
    return F.relu(y)

class EvidenceLoss(nn.Module):
    "The parts the official criterion reaches: with_kldiv=False, with_avuloss=False, annealing 'exp'."
    def __init__(self, num_classes, evidence, loss_type):
        super().__init__()
        self.num_classes, self.evidence, self.loss_type = num_classes, evidence, loss_type

    def annealing(self, epoch, total_epoch):   # computed, never used by the loss
        start = torch.tensor(0.01, dtype=torch.float32)
        return start * torch.exp(-torch.log(start) / total_epoch * epoch)

    def mse_loss(self, y, alpha):
        S = alpha.sum(dim=1, keepdim=True)
        err = ((y - alpha / S) ** 2).sum(dim=1, keepdim=True)
        var = (alpha * (S - alpha) / (S * S * (S + 1))).sum(dim=1, keepdim=True)   # returned, not added
        return {'loss_cls': err, 'loss_var': var}

    def log_loss(self, y, alpha):
        S = alpha.sum(dim=1, keepdim=True)
        uncertainty = self.num_classes / S
        label_num = y.sum(dim=1, keepdim=True)
        temp = 1 / alpha * y
        g = (1 - uncertainty.detach()) * label_num * torch.div(temp, temp.sum(dim=1, keepdim=True))
        return {'loss_cls': (g * (torch.log(S) - torch.log(alpha))).sum(dim=1, keepdim=True)}

    def forward(self, output, target, epoch, total_epoch):
        evidence = exp_evidence(output) if self.evidence == 'exp' else relu_evidence(output)
        alpha = evidence + 1
        lam = self.annealing(epoch, total_epoch)
        results = self.log_loss(target, alpha) if self.loss_type == 'log' else self.mse_loss(target, alpha)
        results.update({'lambda': lam, 'uncertainty': self.num_classes / alpha.sum(dim=1, keepdim=True)})
        return results

# ------------------------------------------------------------------ DELU's model.py
def weights_init(m):
    if 'Conv' in m.__class__.__name__ or 'Linear' in m.__class__.__name__:
        nn.init.kaiming_uniform_(m.weight)
        if m.bias is not None: m.bias.data.fill_(0)

def attention_stack(d):
    "conv3 -> LReLU -> Drop(0.5) -> conv3 -> LReLU -> conv1 -> Drop(0.5) -> Sigmoid (entries 0, 3, 5 are convs)."
    h = d // 2
    return nn.Sequential(nn.Conv1d(d, h, 3, padding=1), nn.LeakyReLU(0.2), nn.Dropout(0.5),
                         nn.Conv1d(h, h, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv1d(h, 1, 1), nn.Dropout(0.5), nn.Sigmoid())

class BWA_fusion_dropout_feat_v2(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.bit_wise_attn = nn.Sequential(nn.Conv1d(d, d, 3, padding=1), nn.LeakyReLU(0.2), nn.Dropout(0.5))
        self.channel_conv = nn.Sequential(nn.Conv1d(d, d, 3, padding=1), nn.LeakyReLU(0.2), nn.Dropout(0.5))
        self.attention = attention_stack(d)
        self.channel_avg = nn.AdaptiveAvgPool1d(1)

    def forward(self, vfeat, ffeat):
        channel_attn = self.channel_conv(self.channel_avg(vfeat))
        bit_wise_attn = self.bit_wise_attn(ffeat)
        filter_feat = torch.sigmoid(bit_wise_attn * channel_attn) * vfeat
        return self.attention(filter_feat), filter_feat

def head_layers(module, n_feature, n_class, dropout_ratio, with_feat_encoder):
    "feat_encoder (unused), fusion and classifier, registered in the official order."
    if with_feat_encoder:
        module.feat_encoder = nn.Sequential(nn.Conv1d(n_feature, n_feature, 3, padding=1), nn.LeakyReLU(0.2), nn.Dropout(dropout_ratio))
    module.fusion = nn.Sequential(nn.Conv1d(n_feature, n_feature, 1), nn.LeakyReLU(0.2), nn.Dropout(dropout_ratio))
    module.classifier = nn.Sequential(nn.Dropout(dropout_ratio), nn.Conv1d(n_feature, n_feature, 3, padding=1),
                                      nn.LeakyReLU(0.2), nn.Dropout(0.7), nn.Conv1d(n_feature, n_class + 1, 1))

def anet_pool(opt):
    kernel = (opt.max_seqlen // opt.t) // 2 * 2 + 1
    return nn.AvgPool1d(kernel, 1, padding=kernel // 2, count_include_pad=True)

class DELUCriterion:
    "DELU's criterion and its helpers (identical in DELU and DELU_ACT up to the EDL evidence and loss type)."
    edl_kind = ('exp', 'log')

    def _multiply(self, x, atn, include_min=False):
        _min = x.min(dim=-1, keepdim=True)[0] if include_min else 0
        return atn * (x - _min) + _min

    def topkloss(self, element_logits, labels, is_back=True, rat=8):
        back = torch.ones_like(labels[:, [0]]) if is_back else torch.zeros_like(labels[:, [0]])
        labels_with_back = torch.cat((labels, back), dim=-1)
        topk_val, _ = torch.topk(element_logits, k=max(1, int(element_logits.shape[-2] // rat)), dim=-2)
        instance_logits = topk_val.mean(dim=-2)
        labels_with_back = labels_with_back / (labels_with_back.sum(dim=1, keepdim=True) + 1e-4)
        return -(labels_with_back * F.log_softmax(instance_logits, dim=-1)).sum(dim=-1)

    def Contrastive(self, x, element_logits, labels):
        labels = torch.cat((labels, torch.zeros_like(labels[:, [0]])), dim=-1)
        sim_loss, n_tmp = 0., 0.
        n = element_logits.shape[1]
        for i in range(0, 6, 2):
            atn1, atn2 = F.softmax(element_logits[i], dim=0), F.softmax(element_logits[i + 1], dim=0)
            n1 = torch.tensor([float(max(n - 1, 1))])
            Hf1, Hf2 = x[i].t() @ atn1, x[i + 1].t() @ atn2
            Lf1, Lf2 = x[i].t() @ ((1 - atn1) / n1), x[i + 1].t() @ ((1 - atn2) / n1)
            cos = lambda a, b: (a * b).sum(dim=0) / (torch.norm(a, 2, dim=0) * torch.norm(b, 2, dim=0))
            d1, d2, d3 = 1 - cos(Hf1, Hf2), 1 - cos(Hf1, Lf2), 1 - cos(Hf2, Lf1)
            both = labels[i, :] * labels[i + 1, :]
            sim_loss = sim_loss + 0.5 * (torch.max(d1 - d2 + 0.5, torch.tensor([0.])) * both).sum()
            sim_loss = sim_loss + 0.5 * (torch.max(d1 - d3 + 0.5, torch.tensor([0.])) * both).sum()
            n_tmp = n_tmp + both.sum()
        return sim_loss / n_tmp

    def course_function(self, epoch, total_epoch, total_snippet_num, amplitude):
        idx = torch.arange(total_snippet_num)
        theta = 2 * (idx + 0.5) / total_snippet_num - 1
        delta = - 2 * epoch / total_epoch + 1
        return amplitude * torch.tanh(theta * delta) + 1

    def snippet_uct(self, element_logits_supp, n_class):
        alpha = exp_evidence(element_logits_supp) + 1
        return n_class / alpha.sum(dim=-1)

    def uct_guide_loss(self, element_logits, element_logits_supp, element_atn, v_atn, f_atn, n_class, epoch,
                       total_epoch, amplitude):
        snippet_uct = self.snippet_uct(element_logits_supp, n_class)
        curve = self.course_function(epoch, total_epoch, element_logits.shape[1], amplitude)
        p_bg = element_logits.softmax(-1)[..., [-1]]
        loss_guide = (1 - element_atn - p_bg).abs().squeeze()
        v_loss_guide = (1 - v_atn - p_bg).abs().squeeze()
        f_loss_guide = (1 - f_atn - p_bg).abs().squeeze()
        total_loss_guide = (loss_guide + v_loss_guide + f_loss_guide) / 3
        _, uct_indices = torch.sort(snippet_uct, dim=1)
        sorted_curve = torch.gather(curve.repeat(10, 1), 1, uct_indices)    # the batch of 10 is hard-coded
        return torch.mul(sorted_curve, total_loss_guide).mean()

    def edl_video_logits(self, element_logits_supp, element_atn, rat, n_class):
        k = max(1, int(element_logits_supp.shape[-2] // rat))
        _, atn_idx = torch.topk(element_atn, k=k, dim=1)
        topk_element_logits = torch.gather(element_logits_supp, 1, atn_idx.expand([-1, -1, n_class + 1]))[:, :, :-1]
        return topk_element_logits.mean(dim=1)

    def edl_loss(self, element_logits_supp, element_atn, labels, rat, n_class, epoch=0, total_epoch=5000):
        video_logits = self.edl_video_logits(element_logits_supp, element_atn, rat, n_class)
        loss = EvidenceLoss(n_class, *self.edl_kind)
        return loss(video_logits, labels, epoch=epoch, total_epoch=total_epoch)['loss_cls'].mean()

    def extra_terms(self, outputs, labels, opt):   # DDG-Net adds two terms
        return {}

    def criterion(self, outputs, labels, itr, opt):
        feat, element_logits, element_atn = outputs['feat'], outputs['cas'], outputs['attn']
        v_atn, f_atn = outputs['v_atn'], outputs['f_atn']
        mutual_loss = 0.5 * F.mse_loss(v_atn, f_atn.detach()) + 0.5 * F.mse_loss(f_atn, v_atn.detach())
        element_logits_supp = self._multiply(element_logits, element_atn, include_min=True)
        edl_loss = self.edl_loss(element_logits_supp, element_atn, labels, rat=opt.rat_atn, n_class=opt.num_class,
                                 epoch=itr, total_epoch=opt.max_iter)
        uct_guide_loss = self.uct_guide_loss(element_logits, element_logits_supp, element_atn, v_atn, f_atn,
                                             n_class=opt.num_class, epoch=itr, total_epoch=opt.max_iter,
                                             amplitude=opt.amplitude)
        loss_mil_orig = self.topkloss(element_logits, labels, is_back=True, rat=opt.k)
        loss_mil_supp = self.topkloss(element_logits_supp, labels, is_back=False, rat=opt.k)
        loss_contrastive = self.Contrastive(feat, element_logits_supp, labels)
        p_bg = element_logits.softmax(-1)[..., [-1]]
        norms = [a.mean() for a in (element_atn, v_atn, f_atn)]
        guides = [(1 - a - p_bg).abs().mean() for a in (element_atn, v_atn, f_atn)]
        loss_dict = {'edl_loss': opt.alpha_edl * edl_loss, 'uct_guide_loss': opt.alpha_uct_guide * uct_guide_loss,
                     'loss_mil_orig': loss_mil_orig.mean(), 'loss_mil_supp': loss_mil_supp.mean(),
                     'loss_supp_contrastive': opt.alpha3 * loss_contrastive, 'mutual_loss': opt.alpha4 * mutual_loss,
                     'norm_loss': opt.alpha1 * (norms[0] + norms[1] + norms[2]) / 3,
                     'guide_loss': opt.alpha2 * (guides[0] + guides[1] + guides[2]) / 3}
        loss_dict.update(self.extra_terms(outputs, labels, opt))
        total_loss = sum(loss_dict.values())     # the official total: the same terms in the same order
        loss_dict['total_loss'] = total_loss
        return total_loss, loss_dict

class DELU(DELUCriterion, nn.Module):
    "DELU's THUMOS14 class: CO2-Net's layers (feat_encoder included), its forward, DELU's criterion."
    def __init__(self, n_feature, n_class, opt):
        nn.Module.__init__(self)
        d = n_feature // 2
        self.vAttn = BWA_fusion_dropout_feat_v2(d)
        self.fAttn = BWA_fusion_dropout_feat_v2(d)
        head_layers(self, n_feature, n_class, opt.dropout_ratio, with_feat_encoder=True)
        self.pool = self.make_pool(opt)
        self.apply(weights_init)

    def make_pool(self, opt): return None

    def forward(self, inputs):
        feat = inputs.transpose(-1, -2); d = feat.shape[1] // 2
        v_atn, vfeat = self.vAttn(feat[:, :d, :], feat[:, d:, :])
        f_atn, ffeat = self.fAttn(feat[:, d:, :], feat[:, :d, :])
        x_atn = (f_atn + v_atn) / 2
        nfeat = self.fusion(torch.cat((vfeat, ffeat), 1))
        x_cls = self.classifier(nfeat)
        if self.pool is not None: x_cls, x_atn, f_atn, v_atn = (self.pool(t) for t in (x_cls, x_atn, f_atn, v_atn))
        return {'feat': nfeat.transpose(-1, -2), 'cas': x_cls.transpose(-1, -2), 'attn': x_atn.transpose(-1, -2),
                'v_atn': v_atn.transpose(-1, -2), 'f_atn': f_atn.transpose(-1, -2)}

class DELU_ACT(DELU):
    "DELU's ActivityNet1.2 class: the same layers plus the AvgPool, relu evidence and the squared-error EDL loss."
    edl_kind = ('relu', 'mse')
    def make_pool(self, opt): return anet_pool(opt)

# ------------------------------------------------------------------ DDG-Net's model.py
class DDG_Net(nn.Module):
    "DDG-Net's graph module ('Ours'): first attention, kinds, adjacencies, GCN, second attention, cp_loss."
    def __init__(self, d, opt):
        super().__init__()
        self.action_graph = nn.ModuleList([nn.ModuleList([nn.Conv1d(d, d, 1) for _ in range(2)]) for _ in range(2)])
        self.background_graph = nn.ModuleList([nn.ModuleList([nn.Conv1d(d, d, 1) for _ in range(2)]) for _ in range(2)])
        self.attentions = nn.ModuleList([attention_stack(d) for _ in range(2)])
        self.activation = nn.LeakyReLU(0.2)
        self.action_threshold, self.background_threshold = opt.action_threshold, opt.background_threshold
        self.similarity_threshold, self.temperature = opt.similarity_threshold, opt.temperature
        self.top_k_rat, self.weight = opt.top_k_rat, 1 / opt.weight
        self.record = {}

    def action_background_mask(self, f_atn, v_atn):     # called as (ori_vatn, ori_fatn): names swapped, as officially
        T = f_atn.shape[2]
        action_row_mask = ((f_atn >= self.action_threshold) & (v_atn >= self.action_threshold)).float()
        background_row_mask = ((f_atn < self.background_threshold) & (v_atn < self.background_threshold)).float()
        action_background_row_mask = action_row_mask + background_row_mask
        ambiguous_row_mask = 1 - action_background_row_mask
        ambiguous_mask = action_background_row_mask.transpose(-1, -2) @ ambiguous_row_mask
        action_mask = action_row_mask.transpose(-1, -2) @ action_row_mask
        background_mask = background_row_mask.transpose(-1, -2) @ background_row_mask
        return (action_mask, background_mask, ambiguous_mask, action_background_row_mask.repeat(1, T, 1),
                action_row_mask == 0, background_row_mask == 0)

    def adjacency_matrix(self, vfeat, ffeat, action_mask, background_mask, ambiguous_mask, temp_mask):
        B, T = ffeat.shape[0], ffeat.shape[2]
        f_feat, v_feat = F.normalize(ffeat, dim=1), F.normalize(vfeat, dim=1)
        fusion_similarity = (v_feat.transpose(1, 2) @ v_feat + f_feat.transpose(1, 2) @ f_feat) / 2
        self.record['sim_raw'] = fusion_similarity.clone()
        fusion_similarity[fusion_similarity < self.similarity_threshold] = 0
        k = T // self.top_k_rat
        top_k_indices = torch.topk(fusion_similarity, T - k, dim=1, largest=False, sorted=False)[1]
        fusion_similarity = fusion_similarity.scatter(1, top_k_indices, 0)
        self.record['sim'] = fusion_similarity
        adjacency_action = fusion_similarity.masked_fill(action_mask == 0, 0)
        adjacency_background = fusion_similarity.masked_fill(background_mask == 0, 0)
        ambiguous_mask = (ambiguous_mask + torch.eye(T).masked_fill(temp_mask == 1, 0)) == 0
        adjacency_ambiguous = fusion_similarity.masked_fill(ambiguous_mask, 0)
        adjacency_action = F.normalize(adjacency_action, p=1, dim=1)
        adjacency_background = F.normalize(adjacency_background, p=1, dim=1)
        adjacency_ambiguous = F.normalize(adjacency_ambiguous, p=1, dim=1)
        no_action_row = (action_mask.sum(dim=-1, keepdim=True) == 0).repeat(1, 1, T)
        adjacency_ambiguous_action = adjacency_ambiguous.masked_fill(no_action_row, 0)
        no_background_row = (background_mask.sum(dim=-1, keepdim=True) == 0).repeat(1, 1, T)
        adjacency_ambiguous_background = adjacency_ambiguous.masked_fill(no_background_row, 0)
        adjacency_ambiguous_ambiguous = adjacency_ambiguous.masked_fill(torch.eye(T).unsqueeze(0).repeat(B, 1, 1) == 0, 0)
        return (adjacency_action, adjacency_background, adjacency_ambiguous, adjacency_ambiguous_action,
                adjacency_ambiguous_background, adjacency_ambiguous_ambiguous)

    def graph_features(self, feat, adj, modality):
        a_act, a_bg, a_amb, a_aa, a_ab, a_ad = adj
        feat_avg = feat @ a_act + feat @ a_bg + feat @ a_amb
        action_gcn, background_gcn = feat.clone(), feat.clone()
        for layer_a, layer_b in zip(self.action_graph[modality], self.background_graph[modality]):
            action_gcn = self.activation(layer_a(action_gcn) @ a_act)
            background_gcn = self.activation(layer_b(background_gcn) @ a_bg)
        ambiguous_gcn = action_gcn @ a_aa + background_gcn @ a_ab + feat @ a_ad
        feat_gcn = action_gcn + background_gcn + ambiguous_gcn
        new_feat = self.weight * feat + (1 - self.weight) * (feat_avg + feat_gcn) / 2
        return feat_avg, feat_gcn, new_feat

    def forward(self, vfeat, ffeat, is_training=True):
        ori_vatn = self.attentions[0](vfeat)
        ori_fatn = self.attentions[1](ffeat)
        masks = self.action_background_mask(ori_vatn, ori_fatn)
        action_mask, background_mask, ambiguous_mask, temp_mask, no_action_mask, no_background_mask = masks
        adj = self.adjacency_matrix(vfeat, ffeat, action_mask, background_mask, ambiguous_mask, temp_mask)
        vfeat_avg, vfeat_gcn, new_vfeat = self.graph_features(vfeat, adj, 0)
        ffeat_avg, ffeat_gcn, new_ffeat = self.graph_features(ffeat, adj, 1)
        self.record.update(ori_vatn=ori_vatn, ori_fatn=ori_fatn, adjacency=adj, vfeat_avg=vfeat_avg, vfeat_gcn=vfeat_gcn,
                           ffeat_avg=ffeat_avg, ffeat_gcn=ffeat_gcn, new_vfeat=new_vfeat, new_ffeat=new_ffeat,
                           action_row=(no_action_mask == 0).float(), background_row=(no_background_mask == 0).float())
        v_atn = self.attentions[0](new_vfeat)
        f_atn = self.attentions[1](new_ffeat)
        if not is_training: return v_atn, new_vfeat, f_atn, new_ffeat, {}
        loss = self.cp_loss(ori_vatn, ori_fatn, no_action_mask, no_background_mask, ffeat_avg, ffeat_gcn, vfeat_avg, vfeat_gcn)
        return v_atn, new_vfeat, f_atn, new_ffeat, loss

    def cp_loss(self, ori_v_atn, ori_f_atn, no_action_mask, no_background_mask, ffeat_avg, ffeat_gcn, vfeat_avg, vfeat_gcn):
        action_mask, background_mask = no_action_mask == False, no_background_mask == False   # noqa: E712
        ori_atn = (ori_f_atn.detach() + ori_v_atn.detach()) / 2
        action_count = max(action_mask.sum(dim=-1).squeeze().count_nonzero().item(), 1)
        background_count = max(background_mask.sum(dim=-1).squeeze().count_nonzero().item(), 1)
        w_act = torch.exp(-(1 / ori_atn - 1) / self.temperature).masked_fill(no_action_mask, 0).detach()
        w_bg = torch.exp(-(1 / (1 - ori_atn) - 1) / self.temperature).masked_fill(no_background_mask, 0).detach()
        def part(avg, gcn, w, count):
            return ((w * torch.norm(avg - gcn, dim=1, keepdim=True)).sum(dim=-1) / w.sum(dim=-1).clamp(min=1e-3)).sum() / count
        feat_loss = (0.5 * (part(vfeat_avg, vfeat_gcn, w_act, action_count) + part(vfeat_avg, vfeat_gcn, w_bg, background_count))
                     + 0.5 * (part(ffeat_avg, ffeat_gcn, w_act, action_count) + part(ffeat_avg, ffeat_gcn, w_bg, background_count)))
        self.record.update(w_act=w_act, w_bg=w_bg)
        return {'feat_loss': feat_loss}

class DDG_DELU(DELUCriterion, nn.Module):
    "DDG-Net's THUMOS14 top-level class (its `DELU`): Attn = DDG_Net, no feat_encoder, fusion, classifier."
    with_feat_encoder = False

    def __init__(self, n_feature, n_class, opt):
        nn.Module.__init__(self)
        self.Attn = DDG_Net(n_feature // 2, opt)
        head_layers(self, n_feature, n_class, opt.dropout_ratio, with_feat_encoder=self.with_feat_encoder)
        self.pool = self.make_pool(opt)
        self.apply(weights_init)

    def make_pool(self, opt): return None

    def forward(self, inputs, is_training=True):
        feat = inputs.transpose(-1, -2); d = feat.shape[1] // 2
        v_atn, vfeat, f_atn, ffeat, loss = self.Attn(feat[:, :d, :], feat[:, d:, :], is_training=is_training)
        x_atn = (f_atn + v_atn) / 2
        nfeat = self.fusion(torch.cat((vfeat, ffeat), 1))
        x_cls = self.classifier(nfeat)
        if self.pool is not None: x_cls, x_atn, f_atn, v_atn = (self.pool(t) for t in (x_cls, x_atn, f_atn, v_atn))
        return {'feat': nfeat.transpose(-1, -2), 'cas': x_cls.transpose(-1, -2), 'attn': x_atn.transpose(-1, -2),
                'v_atn': v_atn.transpose(-1, -2), 'f_atn': f_atn.transpose(-1, -2), 'extra_loss': loss}

    def complementary_learning_loss(self, cas, labels):
        labels_with_back = torch.cat((labels, torch.ones_like(labels[:, [0]])), dim=-1).unsqueeze(1)
        cas = F.softmax(cas, dim=-1)
        return torch.sum(-(1 - labels_with_back) * torch.log((1 - cas).clamp_(1e-6)), dim=-1).mean()

    def extra_terms(self, outputs, labels, opt):
        try: fc_loss = outputs['extra_loss']['feat_loss']
        except (KeyError, TypeError): fc_loss = 0
        return {'feat_loss': opt.alpha5 * fc_loss,
                'complementary_loss': opt.alpha6 * self.complementary_learning_loss(outputs['cas'], labels)}

class DDG_DELU_ACT(DDG_DELU):
    "DDG-Net's ActivityNet1.2 class (its `DELU_ACT`): Attn, the unused feat_encoder, fusion, classifier; pool; relu/mse EDL."
    with_feat_encoder = True
    edl_kind = ('relu', 'mse')
    def make_pool(self, opt): return anet_pool(opt)

# ------------------------------------------------------------------ helpers shared by the parity tests and chapter 13
TERM_NAMES = {'edl': 'edl_loss', 'uct_guide': 'uct_guide_loss', 'mil_orig': 'loss_mil_orig', 'mil_supp': 'loss_mil_supp',
              'coactivity': 'loss_supp_contrastive', 'mutual': 'mutual_loss', 'norm': 'norm_loss', 'guide': 'guide_loss',
              'feat_consistency': 'feat_loss', 'complementary': 'complementary_loss'}
"co2net term name -> key of the official loss_dict (which holds the weighted terms)."

def loss_kwargs(opt, method: str) -> dict:
    "Keyword arguments of co2net's delu_loss / ddgnet_loss for the official options `opt` (without iteration, max_iter)."
    kw = dict(topk_ratio=opt.k, edl_ratio=opt.rat_atn, alpha1=opt.alpha1, alpha2=opt.alpha2, alpha3=opt.alpha3,
              alpha4=opt.alpha4, alpha_edl=opt.alpha_edl, alpha_uct=opt.alpha_uct_guide, amplitude=opt.amplitude,
              anet=opt.num_class == 100)
    if method == 'ddgnet': kw.update(alpha5=opt.alpha5, alpha6=opt.alpha6)
    return kw

def make_batch(B: int, T: int, feat_dim: int, n_class: int, seed: int = 0):
    """A training-like batch: features (B, T, feat_dim) and multi-hot labels (B, C) with three same-class pairs first
    and at least one label per video. Some snippets are repeated, as in up-sampled training videos."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, feat_dim, generator=g)
    x[:, 1::7] = x[:, 0::7][:, :x[:, 1::7].shape[1]]                 # repeated snippets: exact ties in the similarity
    labels = (torch.rand(B, n_class, generator=g) < 2 / n_class).float()
    labels[torch.arange(B), torch.randint(0, n_class, (B,), generator=g)] = 1
    for p in range(min(3, B // 2)):
        c = int(torch.randint(0, n_class, (1,), generator=g))
        labels[2 * p:2 * p + 2, c] = 1
    return x, labels
