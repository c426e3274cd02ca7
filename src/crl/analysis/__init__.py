"""The CRL paper's analysis experiments (App. F) on a user's runs: what the learned representations encode
(`probe`, `tsne`) and how far the critic's updates reach (`gradsim`). Each writes a figure and the
numbers behind it (`crl analyze`)."""
