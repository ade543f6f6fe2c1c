"""The reference recipe: the VAE of the PyTorch examples repository (vae/main.py), re-typed for timing.

Same architecture (784-400-20, ReLU, sigmoid output), same loss (binary cross-entropy of the
sigmoid output, summed, plus the analytic KL, summed), same optimiser (Adam, lr 1e-3), same data
pipeline (torchvision MNIST through `transforms.ToTensor()` and a shuffling `DataLoader`, batch 128,
no worker processes on CPU) and the same per-step `loss.item()`. Only the printing and image
saving are left out, so the timing is of the training itself.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets, transforms


class ExamplesVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        hidden = F.relu(self.fc1(x))
        return self.fc21(hidden), self.fc22(hidden)

    def reparameterize(self, mu, logvar):
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def examples_loss(recon, x, mu, logvar):
    "Summed BCE of the sigmoid output plus the summed analytic KL, as in the examples."
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction='sum')
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def make_loaders(root, batch_size=128):
    tfm = transforms.ToTensor()
    train = datasets.MNIST(root, train=True, download=False, transform=tfm)
    test = datasets.MNIST(root, train=False, download=False, transform=tfm)
    return (torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True),
            torch.utils.data.DataLoader(test, batch_size=batch_size, shuffle=True))


def train_epoch(model, optimizer, loader):
    "One epoch as the examples run it; returns the mean training loss per example."
    model.train()
    total = 0.0
    for data, _ in loader:
        optimizer.zero_grad()
        recon, mu, logvar = model(data)
        loss = examples_loss(recon, data, mu, logvar)
        loss.backward()
        total += loss.item()
        optimizer.step()
    return total / len(loader.dataset)


def test_loss(model, loader):
    "Mean negative ELBO per test example (nats)."
    model.eval()
    total = 0.0
    with torch.no_grad():
        for data, _ in loader:
            recon, mu, logvar = model(data)
            total += examples_loss(recon, data, mu, logvar).item()
    return total / len(loader.dataset)
