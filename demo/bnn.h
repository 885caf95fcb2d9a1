/* SPDX-License-Identifier: MIT */
/*
 * bnn - the demo's ex-situ side: the two-moons data set from a seeded
 * generator, a Bayes-by-backprop trainer (Gaussian mean-field posterior,
 * reparameterisation trick, sigma = softplus(rho), Adam) that writes a
 * libbnnacc model, and the fidelity metrics that compare two sampled
 * inferences (software vs card).
 */
#ifndef BNN_DEMO_H
#define BNN_DEMO_H

#include <bnnacc/bnnacc.h>

#include <stddef.h>
#include <stdint.h>

/* splitmix64 / xoshiro-free generator: enough for data and noise */
struct bnn_rng {
	uint64_t s;
};

void bnn_rng_seed(struct bnn_rng *r, uint64_t seed);
double bnn_rng_uniform(struct bnn_rng *r);	/* [0, 1) */
double bnn_rng_normal(struct bnn_rng *r);

/*
 * Two interleaved half circles ("two moons"): n points, half of each class
 * (class 0: upper moon centred at (0, 0), class 1: lower moon centred at
 * (1, 0.5)), Gaussian noise of std @noise on both coordinates. @x gets
 * [n][2], @y the labels.
 */
void bnn_moons(float *x, int *y, unsigned n, double noise, uint64_t seed);

/*
 * Points drawn with the same rule but split: class c where the line
 * x1 > @slope * x0 + @icpt (for the linearly separable unit test),
 * uniform over [-2, 2]^2.
 */
void bnn_linear(float *x, int *y, unsigned n, double slope, double icpt,
		uint64_t seed);

#define BNN_MAX_LAYERS 4

/**
 * struct bnn_cfg - what to train (zeroes take defaults)
 * @n_layers, @dims: layer count and n_layers + 1 sizes (default 2-16-16-2)
 * @steps: Adam steps (default 4000)
 * @batch: minibatch size (default 128, at most the data size)
 * @lr: Adam step size (default 0.01)
 * @prior_sigma: std of the N(0, s^2) prior on every weight (default 1)
 * @sigma_init: initial posterior std (default 0.05)
 * @shared_sigma: one std for every weight (learned): the variational
 *	family a differential pair of RRAM cells can hold, whose spread
 *	hardly depends on the mean (docs/libbnnacc.md); 0: one std per weight
 * @seed: initialisation, minibatches and noise
 * @verbose: print the loss every @verbose steps to stderr (0: quiet)
 */
struct bnn_cfg {
	unsigned n_layers;
	unsigned dims[BNN_MAX_LAYERS + 1];
	unsigned steps;
	unsigned batch;
	double lr;
	double prior_sigma;
	double sigma_init;
	int shared_sigma;
	uint64_t seed;
	unsigned verbose;
};

/**
 * struct bnn_stats - what training reports
 * @nll: mean negative log-likelihood per point at the end (one sample)
 * @kl: KL(q || prior) summed over the weights at the end
 * @accuracy: training accuracy of the posterior mean network
 * @mean_sigma: mean posterior std over all weights
 * @n_weights: weights including biases
 */
struct bnn_stats {
	double nll, kl, accuracy, mean_sigma;
	unsigned n_weights;
};

/*
 * Train a BNN (tanh hidden layers, softmax output) on @n points @x [n][2..]
 * with labels @y (classes = last dim) and return it as a GAUSS libbnnacc
 * model with the inputs normalised to zero mean and unit std (stored in the
 * model). Returns 0 or -errno.
 */
int bnn_train(const struct bnn_cfg *cfg, const float *x, const int *y,
	      unsigned n, struct bnnacc_model **out, struct bnn_stats *st);

/* Fraction of @n points whose arg-max of @mean [n][c] equals @y. */
double bnn_accuracy(const double *mean, unsigned n, unsigned c, const int *y);

/* Pearson correlation of @a and @b (n values); 0 when either is constant. */
double bnn_pearson(const double *a, const double *b, size_t n);

/* Fraction of points where the arg-max of two [n][c] tables agree. */
double bnn_agreement(const double *a, const double *b, unsigned n, unsigned c);

/*
 * The first @k samples of @src as a result of its own (probs copied, the
 * uncertainty recomputed). Returns 0 or -errno.
 */
int bnn_result_head(const struct bnnacc_result *src, unsigned k,
		    struct bnnacc_result *dst);

#endif
