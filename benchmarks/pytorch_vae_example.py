"""PyTorch's own VAE example (pytorch/examples, ``vae/main.py``), for comparing memory and time.

Its model and loop as published: 784-400-20 with ReLU, torchvision's MNIST
through ``transforms.ToTensor`` and a shuffled ``DataLoader`` of 128, Adam at
1e-3, summed BCE + KL; one epoch of training, then the test loss. Only what it
writes to disk (sample images) is left out. Run from the repository root:

    python benchmarks/pytorch_vae_example.py --epochs 1
"""

import argparse
import os

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import datasets, transforms


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data", default=os.environ.get("VAEKIT_DATA", "data"))
    args = parser.parse_args()
    torch.manual_seed(1)
    train_loader = torch.utils.data.DataLoader(
        datasets.MNIST(args.data, train=True, download=False, transform=transforms.ToTensor()),
        batch_size=128, shuffle=True)
    test_loader = torch.utils.data.DataLoader(
        datasets.MNIST(args.data, train=False, transform=transforms.ToTensor()), batch_size=128, shuffle=False)
    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = 0
        for data, _ in train_loader:
            optimizer.zero_grad()
            recon, mu, logvar = model(data)
            loss = loss_function(recon, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for data, _ in test_loader:
                recon, mu, logvar = model(data)
                test_loss += loss_function(recon, data, mu, logvar).item()
        print(f"epoch {epoch}: train {train_loss / len(train_loader.dataset):.2f}, "
              f"test {test_loss / len(test_loader.dataset):.2f}")


if __name__ == "__main__":
    main()
