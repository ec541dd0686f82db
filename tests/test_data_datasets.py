"""cnn2gnn_lib.data.datasets: the loaded splits, their items, statistics and the registry."""
import pytest
import torch

from cnn2gnn_lib import data


def test_fashion_mnist_splits_are_the_real_files(fmnist_train, fmnist_test):
    assert fmnist_train.images.shape == (60000, 1, 28, 28)
    assert fmnist_test.images.shape == (10000, 1, 28, 28)
    assert fmnist_train.images.dtype == torch.uint8
    assert fmnist_train.class_counts().tolist() == [6000] * 10
    assert fmnist_test.class_counts().tolist() == [1000] * 10
    assert fmnist_train.classes[0] == "T-shirt/top" and fmnist_train.classes[9] == "Ankle boot"
    # real photographs use the whole grey range and are not constant
    assert fmnist_train.images.min() == 0 and fmnist_train.images.max() == 255
    assert fmnist_train.images.float().std() > 50


def test_items_are_float_images_in_unit_range(fmnist_test):
    image, label = fmnist_test[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert isinstance(label, int) and label == int(fmnist_test.targets[0])


def test_stored_normalisation_matches_the_training_split(fmnist_train):
    pixels = fmnist_train.images.float() / 255
    assert pixels.mean().item() == pytest.approx(fmnist_train.info.mean[0], abs=1e-3)
    assert pixels.std().item() == pytest.approx(fmnist_train.info.std[0], abs=1e-3)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown dataset 'mnist-color'.*fashion-mnist"):
        data.load_dataset("mnist-color")
    with pytest.raises(ValueError, match="unknown split"):
        data.load_dataset("fashion-mnist", "validation")
