"""Tests of cnn2gnn_lib.students.models (the students, batch and anchor mode) and of the
batch-mode helpers of cnn2gnn_lib.students.inference."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from cnn2gnn_lib import data, students as S, training
from cnn2gnn_lib.dgl_bridge import dgl_available
from cnn2gnn_lib.graph.heads import AdaptiveHead, KNNHead
from cnn2gnn_lib.student_data import StudentData

needs_dgl = pytest.mark.skipif(not dgl_available(), reason="DGL does not import here")


@pytest.fixture(scope="module")
def real_batch(fmnist_test):
    """80 real test images (8 per class), flat and standardised, with their labels."""
    subset = data.balanced_subset(fmnist_test, 8, seed=1)
    return data.flat_features(subset), subset.targets


@pytest.mark.parametrize("kind, options", [
    ("mlp", {}), ("gnn-learned", {}), ("gnn-knn", {}),
    ("gnn-learned", {"graph_space": "projection", "projection_dim": 32})])
def test_students_give_logits(kind, options, real_batch):
    x, _ = real_batch
    torch.manual_seed(0)
    model = S.build_student(kind, 784, 64, 10, **options).eval()
    assert model(x).shape == (80, 10)
    if kind != "mlp":
        assert model.design.graph == kind[4:]
        assert (model.projection is not None) == ("graph_space" in options)


def test_the_student_interface():
    mlp = S.build_student("mlp", 784, 16, 10, dropout=0.2)
    gnn = S.build_student("gnn-knn", 784, 16, 10, s=4)
    assert isinstance(mlp, S.Student) and isinstance(gnn, S.Student)
    assert mlp.head is None and mlp.min_batch == 1 and mlp.inference_modes == ("batch", "vote")
    assert mlp.dropout.p == 0.2 and mlp.message_passing_flops(torch.zeros(8, 784)) == 0.0
    assert isinstance(gnn.head, KNNHead) and gnn.min_batch == 6 and gnn.s == 4
    assert gnn.inference_modes == ("batch", "anchor", "vote")
    assert isinstance(S.GNNStudent(784, 16, 10).head, AdaptiveHead)


def test_a_design_or_its_options_build_the_same_student(real_batch):
    x, _ = real_batch
    design = S.GraphDesign(s=4, graph_layers="second", self_weight=0.3)
    torch.manual_seed(0)
    given = S.GNNStudent(784, 16, 10, design, dropout=0.0).eval()
    torch.manual_seed(0)
    keywords = S.GNNStudent(784, 16, 10, s=4, graph_layers="second", self_weight=0.3,
                            dropout=0.0).eval()
    assert given.design == keywords.design == design
    assert given.head.normalization == "row" and given.self_weight() == 0.3
    assert torch.equal(given(x), keywords(x))
    with pytest.raises(ValueError, match="not both"):
        S.GNNStudent(784, 16, 10, design, s=4)


@needs_dgl
@pytest.mark.parametrize("graph, space", [("learned", "shared"), ("learned", "projection"),
                                          ("knn", "shared")])
def test_torch_and_dgl_backends_agree(graph, space, real_batch):
    x, y = real_batch
    torch.manual_seed(0)
    reference = S.GNNStudent(784, 64, 10, s=5, graph=graph, graph_space=space, dropout=0.0,
                             backend="torch")
    other = S.GNNStudent(784, 64, 10, s=5, graph=graph, graph_space=space, dropout=0.0,
                         backend="dgl")
    other.load_state_dict(reference.state_dict())
    outputs, grads = [], []
    for model in (reference, other):
        logits = model(x)
        torch.nn.functional.cross_entropy(logits, y).backward()
        outputs.append(logits.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert torch.allclose(outputs[0], outputs[1], atol=1e-5)
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-5), name


def test_auto_backend_choice():
    expected = "dgl" if dgl_available() else "torch"
    assert S.resolve_backend("auto", "cpu") == expected
    assert S.resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(ValueError, match="backend must be"):
        S.resolve_backend("jax", "cpu")
    model = S.GNNStudent(784, 16, 10, s=3, graph="knn")
    model.backend = "torch"  # one setting reaches both layers and the head
    assert model.lin1.backend == model.lin2.backend == model.head.backend == "torch"
    with pytest.raises(ValueError, match="backend must be one of"):
        model.backend = "jax"
    with pytest.raises(ValueError, match="backend must be one of"):
        S.GNNStudent(784, 16, 10, backend="jax")


def test_torch_backend_when_dgl_cannot_be_imported():
    code = textwrap.dedent("""
        import sys
        sys.modules['dgl'] = None
        import torch
        from cnn2gnn_lib import data, students, dgl_bridge
        test = data.balanced_subset(data.load_dataset('fashion-mnist', 'test'), 5)
        x = data.flat_features(test)
        model = students.GNNStudent(784, 32, 10, s=4)
        print('BACKEND', students.resolve_backend(model.backend, x.device))
        print('SHAPE', tuple(model(x).shape))
        knn = students.GNNStudent(784, 32, 10, s=4, graph='knn')
        print('KNN', tuple(knn(x).shape))
        try:
            students.GNNStudent(784, 32, 10, backend='dgl')(x)
        except dgl_bridge.DGLUnavailable as error:
            print('REFUSED', 'dgl==2.1.0' in str(error))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ), timeout=300)
    assert result.returncode == 0, result.stderr
    for line in ("BACKEND torch", "SHAPE (50, 10)", "KNN (50, 10)", "REFUSED True"):
        assert line in result.stdout


def test_the_head_sends_gradient_into_the_first_layer(real_batch):
    x, y = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 64, 10, s=5, dropout=0.0, backend="torch")

    def first_layer_grad(detach_graph):
        model.zero_grad()
        graph = model.build_graph(x)
        logits = model(x, graph=graph.detach() if detach_graph else graph)
        torch.nn.functional.cross_entropy(logits, y).backward()
        return model.lin1.weight.grad.clone()

    through_graph, without = first_layer_grad(False), first_layer_grad(True)
    assert not torch.allclose(through_graph, without)


def test_batch_mode_depends_on_the_batch_but_anchor_mode_does_not(real_batch):
    x, _ = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 64, 10, s=5, backend="torch").eval()
    bank_x, queries = x[:50], x[50:]
    bank = model.build_anchor_bank(bank_x, chunk_size=16)
    assert bank.size == 50 and bank.labels is None and set(bank.embeddings) == {"input"}
    together = model.predict_anchor(queries, bank)
    alone = torch.cat([model.predict_anchor(queries[i:i + 1], bank) for i in range(len(queries))])
    reordered = model.predict_anchor(queries.flip(0), bank).flip(0)
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(together, reordered, atol=1e-5)
    # batch mode: the first query's logits change when its batch-mates change
    with torch.no_grad():
        first = model(x[50:80])[0]
        other = model(torch.cat([x[50:51], x[:29]]))[0]
    assert not torch.allclose(first, other, atol=1e-4)


def test_anchor_mode_uses_only_the_s_nearest_bank_images(real_batch):
    x, _ = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 64, 10, s=3, backend="torch").eval()
    bank = model.build_anchor_bank(x[:40])
    # shared space: where queries look for anchors is X_bank W1, but kept apart from the
    # messages X_bank W1, so that editing one never moves the other
    assert bank.embeddings["input"] is not bank.messages[0]
    assert torch.equal(bank.embeddings["input"], bank.messages[0])
    query = x[45:46]
    with torch.no_grad():
        embedded = model.embed(query, model.lin1.transform(query))
        dist = ((embedded - bank.embeddings["input"]) ** 2).sum(1)
    far, near = dist.argsort()[3:], dist.argsort()[:3]
    reference = model.predict_anchor(query, bank)
    layer1, layer2 = bank.messages
    layer1[far] += 100.0  # changing a far bank image's messages must not matter
    layer2[far] += 100.0
    assert torch.allclose(model.predict_anchor(query, bank), reference, atol=1e-4)
    layer1[far] -= 100.0
    layer2[far] -= 100.0
    layer2[near[0]] += 100.0  # ... but a near one's must (the test can see a change)
    assert not torch.allclose(model.predict_anchor(query, bank), reference, atol=1e-2)
    layer2[near[0]] -= 100.0


def test_bad_student_input_is_named(real_batch):
    x, _ = real_batch
    model = S.GNNStudent(784, 16, 10, s=10)
    with pytest.raises(ValueError, match="batch of 8 images cannot give each image s=10"):
        model(x[:8])
    with pytest.raises(ValueError, match="expected flat images \\[B, 784\\]"):
        model(x.view(-1, 1, 28, 28))
    with pytest.raises(ValueError, match="expected flat images \\[B, 784\\]"):
        S.MLPStudent(784, 16, 10)(x.view(-1, 1, 28, 28))
    with pytest.raises(ValueError, match="graph must be"):
        S.GNNStudent(784, 16, 10, graph="complete")
    with pytest.raises(ValueError, match="unknown student"):
        S.build_student("transformer", 784, 16, 10)
    with pytest.raises(ValueError, match="anchor bank needs more than"):
        model.build_anchor_bank(x[:5])
    with pytest.raises(ValueError, match="expected flat images"):
        model.predict_anchor(x.view(-1, 1, 28, 28), model.build_anchor_bank(x))


def test_batch_slices_merge_a_small_tail():
    assert S.batch_slices(10, 4, minimum=3) == [slice(0, 4), slice(4, 10)]
    assert S.batch_slices(10, 4, minimum=2) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert S.batch_slices(3, 4, minimum=4) == [slice(0, 3)]  # a lone short batch stays
    with pytest.raises(ValueError, match="batch_size=2 is smaller than the 3 nodes"):
        S.batch_slices(10, 2, minimum=3)


def test_predict_batches_is_the_model_on_consecutive_batches(real_batch):
    x, _ = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 16, 10, s=5, backend="torch")
    model.train()
    logits = S.predict_batches(model, x, 30)  # batches 0:30, 30:60, 60:80 (20 >= 7: kept)
    assert not model.training
    with torch.no_grad():
        expected = torch.cat([model(x[:30]), model(x[30:60]), model(x[60:])])
    assert torch.allclose(logits, expected, atol=1e-5)
    with torch.no_grad():  # a tail of 5 < s + 2 = 7 joins the batch before it
        merged = torch.cat([model(x[:20]), model(x[20:45])])
    assert torch.allclose(S.predict_batches(model, x[:45], 20), merged, atol=1e-5)


def test_evaluating_restores_the_mode():
    model = S.MLPStudent(784, 8, 10).train()
    with pytest.raises(RuntimeError):
        with S.evaluating(model) as inside:
            assert inside is model and not model.training
            raise RuntimeError
    assert model.training
    with S.evaluating(model.eval()):
        pass
    assert not model.training


def test_learned_graph_is_more_homophilous_than_raw_pixel_knn(fmnist_test):
    """On real images, a trained head joins same-class images more often than kNN on pixels."""
    cfg = training.StudentConfig(kind="gnn-learned", hidden=128, s=10, epochs=6,
                                 batch_size=128, train_per_class=200, val_per_class=50)
    split = StudentData.from_config(cfg)  # 150 training images per class, as before
    assert len(split.train) == 1500
    test = data.balanced_subset(fmnist_test, 50)
    x_test = data.flat_features(test)
    torch.manual_seed(0)
    learned = S.GNNStudent(784, 128, 10, s=10, backend="torch")
    training.fit_student(learned, split, cfg, cfg.loss_terms(), progress=False)
    knn = S.GNNStudent(784, 128, 10, s=10, graph="knn", backend="torch")
    h_learned = S.batch_graph_homophily(learned, x_test, test.targets, batch_size=250)
    h_knn = S.batch_graph_homophily(knn, x_test, test.targets, batch_size=250)
    accuracy = (S.predict_batches(learned, x_test, 250).argmax(1) == test.targets).float().mean()
    assert accuracy > 0.6  # chance is 0.1
    assert h_learned > h_knn + 0.05
    with pytest.raises(ValueError, match="MLPStudent builds no graph"):
        S.batch_graph_homophily(S.MLPStudent(784, 8, 10), x_test, test.targets)


def test_batch_graph_homophily_pools_the_edge_weights(real_batch):
    x, y = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 16, 10, s=4, graph="knn", backend="torch").eval()
    same = total = 0.0
    for part in (slice(0, 40), slice(40, 80)):
        graph = model.build_graph(x[part]).without_self_loops()
        agree = (y[part][graph.src] == y[part][graph.dst]).float()
        same, total = same + float((agree * graph.weight).sum()), total + float(graph.weight.sum())
    assert S.batch_graph_homophily(model, x, y, 40) == pytest.approx(same / total)


# -- design options (where the graph acts, how much a node keeps, where the graph is learned) --

@pytest.mark.parametrize("options", [
    {"graph_layers": "first"}, {"graph_layers": "second"},
    {"graph_layers": "second", "graph_space": "hidden", "self_weight": 0.8},
    {"graph_layers": "both", "graph_space": "hidden"}, {"self_weight": "learned"},
    {"self_weight": 0.3, "graph_space": "projection", "projection_dim": 16},
    {"graph": "knn", "self_weight": 0.5}, {"graph": "knn", "graph_layers": "second"}])
def test_design_options_give_logits_in_both_modes(options, real_batch):
    x, y = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 32, 10, s=4, backend="torch", **options).eval()
    logits, graph = model(x, return_graph=True)
    assert logits.shape == (80, 10) and graph.num_nodes == 80
    bank = model.build_anchor_bank(x[:60], labels=y[:60])
    assert set(bank.embeddings) == {source for source in model.design.sources if source}
    anchor = model.predict_anchor(x[60:], bank)
    assert anchor.shape == (20, 10) and torch.isfinite(anchor).all()
    assert 0.0 <= S.batch_graph_homophily(model, x, y, 40) <= 1.0


def test_a_layer_without_graph_is_a_plain_linear_layer(real_batch):
    """With the graph only in layer 2, the hidden states are exactly the MLP's."""
    x, _ = real_batch
    torch.manual_seed(0)
    gnn = S.GNNStudent(784, 32, 10, s=4, graph_layers="second", dropout=0.0,
                       backend="torch").eval()
    mlp = S.MLPStudent(784, 32, 10, dropout=0.0).eval()
    mlp.load_state_dict({k: v for k, v in gnn.state_dict().items() if k.startswith("lin")})
    hidden = torch.relu(gnn.lin1(x))
    assert torch.allclose(hidden, torch.relu(mlp.lin1(x)), atol=1e-6)
    graph = gnn.build_graph(x)  # layer 2 uses the graph learned on X W1
    expected = S.propagate(graph, hidden @ gnn.lin2.weight.T) + gnn.lin2.bias
    assert torch.allclose(gnn(x), expected, atol=1e-5)
    assert not torch.allclose(gnn(x), mlp(x), atol=1e-3)  # the graph does change layer 2


def test_self_weight_mixes_own_message_and_neighbour_mean(real_batch):
    x, _ = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 32, 10, s=4, graph_layers="first", self_weight=0.7, dropout=0.0,
                         backend="torch").eval()
    graph = model.build_graph(x)
    dense = graph.to_dense()
    assert torch.allclose(dense.sum(1), torch.ones(80), atol=1e-5)  # mean of neighbours
    assert torch.all(dense.diagonal() == 0)
    first = x @ model.lin1.weight.T
    hidden = torch.relu(0.7 * first + 0.3 * dense @ first + model.lin1.bias)
    assert torch.allclose(model(x), model.lin2(hidden), atol=1e-4)
    # self weight 1: the graph has no say, the model is an MLP
    keeps_all = S.GNNStudent(784, 32, 10, s=4, graph_layers="first", self_weight=1.0,
                             dropout=0.0, backend="torch").eval()
    keeps_all.load_state_dict(model.state_dict())
    assert torch.allclose(keeps_all(x), model.lin2(torch.relu(model.lin1(x))), atol=1e-5)


def test_learned_self_weight_receives_gradient(real_batch):
    x, y = real_batch
    model = S.GNNStudent(784, 32, 10, s=4, self_weight="learned", backend="torch")
    assert float(model.self_weight().detach()) == 0.5
    assert "self_logit" in dict(model.named_parameters())
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert model.self_logit.grad is not None and model.self_logit.grad.abs() > 0
    assert S.GNNStudent(784, 32, 10).self_weight() is None  # GCN normalisation


def test_hidden_space_graph_is_learned_on_the_hidden_states(real_batch):
    x, y = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 32, 10, s=4, graph_layers="second", graph_space="hidden",
                         self_weight=0.5, dropout=0.0, backend="torch")
    _, graph = model(x, return_graph=True)
    hidden = torch.relu(model.lin1(x))
    assert torch.equal(graph.to_dense() > 0, model.head.batch_graph(hidden).to_dense() > 0)
    assert not torch.equal(graph.to_dense() > 0, model.build_graph(x).to_dense() > 0)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert model.lin1.weight.grad.abs().sum() > 0


def test_anchor_labels_vote_with_the_graph_weights(real_batch):
    x, y = real_batch
    torch.manual_seed(0)
    model = S.GNNStudent(784, 32, 10, s=4, backend="torch").eval()
    bank = model.build_anchor_bank(x[:60], labels=y[:60])
    assert torch.equal(bank.labels, torch.nn.functional.one_hot(y[:60], 10).float())
    plain = model.predict_anchor(x[60:], bank)
    mixed = model.predict_anchor(x[60:], bank, label_weight=0.5).exp()
    assert torch.allclose(mixed.sum(1), torch.ones(20), atol=1e-5)
    graph = model.head.bank_graph(model.lin1.transform(x[60:]), bank.embeddings["input"], 1024)
    votes = S.weighted_sum(graph, torch.nn.functional.one_hot(y[:60], 10).float(), 20)
    assert torch.allclose(mixed, 0.5 * plain.softmax(1) + 0.5 * votes, atol=1e-5)
    only_labels = model.predict_anchor(x[60:], bank, label_weight=1.0)
    assert torch.equal(only_labels.argmax(1), votes.argmax(1))
    soft = model.build_anchor_bank(x[:60], labels=torch.full((60, 10), 0.1))
    assert torch.allclose(model.predict_anchor(x[60:], soft, label_weight=1.0).exp(),
                          torch.full((20, 10), 0.1), atol=1e-5)
    with pytest.raises(ValueError, match="labels"):
        model.predict_anchor(x[60:], model.build_anchor_bank(x[:60]), label_weight=0.5)
    with pytest.raises(ValueError, match="labels"):
        model.build_anchor_bank(x[:60], labels=y[:59])
    with pytest.raises(ValueError, match=r"bank labels must lie in \[0, 10\)"):
        model.build_anchor_bank(x[:60], labels=y[:60] + 1)
    with pytest.raises(ValueError, match="label_weight"):
        model.predict_anchor(x[60:], bank, label_weight=2.0)
