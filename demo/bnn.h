/* SPDX-License-Identifier: MIT */
/*
 * bnn - the demo's ex-situ side: seeded data sets (two moons and a registry
 * of others, data.c), a Bayes-by-backprop trainer (Gaussian mean-field
 * posterior, reparameterisation trick, sigma = softplus(rho), Adam) and a
 * Hamiltonian Monte Carlo sampler (mcmc.c) that write libbnnacc models, and
 * the fidelity metrics that compare two sampled inferences (software vs
 * card).
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

/* ---------------------------------------------------------------------- */
/* data sets (data.c)                                                      */
/* ---------------------------------------------------------------------- */

#define BNN_DATASET_MAX_CLASSES 8

/**
 * struct bnn_dataset - one data set of the registry
 * @name: what --dataset takes
 * @desc: one line
 * @n_inputs, @n_classes: shapes
 * @class_name: n_classes names (< BNNACC_NAME_LEN characters)
 * @gen: the seeded generator: @n points into @x [n][n_inputs] and their
 *	labels into @y, point i of class i % n_classes (so the classes are
 *	balanced to within one point), noise of scale @noise; the same
 *	bytes for the same arguments
 * @noise: default noise
 * @arch: suggested architecture ("2-32-2"), for bnn_parse_arch()
 * @box: 2-D sets: the plot box x0, x1, y0, y1 of the demo's grid (zeroes
 *	for the others)
 */
struct bnn_dataset {
	const char *name;
	const char *desc;
	unsigned n_inputs, n_classes;
	const char *class_name[BNN_DATASET_MAX_CLASSES];
	void (*gen)(float *x, int *y, unsigned n, double noise, uint64_t seed);
	double noise;
	const char *arch;
	double box[4];
};

/* The data set called @name, or NULL. */
const struct bnn_dataset *bnn_dataset_find(const char *name);
/* The @i-th data set of the registry, NULL past the last (to list them). */
const struct bnn_dataset *bnn_dataset_get(unsigned i);
/*
 * Put @ds's class names into @m. Returns 0, or -EINVAL when @m has not
 * @ds's inputs and classes.
 */
int bnn_dataset_label(const struct bnn_dataset *ds, struct bnnacc_model *m);

/* ---------------------------------------------------------------------- */
/* training                                                                */
/* ---------------------------------------------------------------------- */

#define BNN_MAX_LAYERS 4

/**
 * struct bnn_cfg - what to train (zeroes take defaults)
 * @n_layers, @dims: layer count and n_layers + 1 sizes (default 2-16-16-2)
 * @steps: Adam steps (default 4000; bnn_sample(): of its start, 1000)
 * @batch: minibatch size (default 128, at most the data size)
 * @lr: Adam step size (default 0.01)
 * @prior_sigma: std of the N(0, s^2) prior on every weight (default 1)
 * @sigma_init: initial posterior std (default 0.05)
 * @shared_sigma: one std for every weight (learned): the variational
 *	family a differential pair of RRAM cells can hold, whose spread
 *	hardly depends on the mean (docs/libbnnacc.md); 0: one std per weight
 * @seed: initialisation, minibatches and noise
 * @verbose: print the loss every @verbose steps (bnn_sample(): iterations)
 *	to stderr (0: quiet)
 *
 * bnn_sample() only:
 * @n_samples: posterior samples kept (default 200, at most
 *	BNNACC_MODEL_MAX_SAMPLES)
 * @burn: warm-up iterations, step size and mass adapted (default 400,
 *	at least 20)
 * @thin: keep every @thin-th iteration after the warm-up (default 2)
 * @leapfrog: leapfrog steps of a trajectory (default 16)
 * @accept: acceptance rate the warm-up aims at (default 0.75)
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
	unsigned n_samples;
	unsigned burn;
	unsigned thin;
	unsigned leapfrog;
	double accept;
};

/*
 * Parse "2-32-2" (inputs, hidden sizes, classes; 1 to BNN_MAX_LAYERS
 * layers, sizes 1..1024) into @c's n_layers and dims. Returns 0 or -EINVAL.
 */
int bnn_parse_arch(const char *s, struct bnn_cfg *c);

/**
 * struct bnn_stats - what training reports
 * @nll: mean negative log-likelihood per point at the end (one sample)
 * @kl: KL(q || prior) summed over the weights at the end (bnn_sample(): 0)
 * @accuracy: training accuracy of the posterior mean network
 *	(bnn_sample(): of the posterior predictive, the samples' mean softmax)
 * @mean_sigma: mean posterior std over all weights (bnn_sample(): the
 *	samples' std)
 * @n_weights: weights including biases
 * bnn_sample() only:
 * @accept: Metropolis acceptance rate after the warm-up
 * @step: leapfrog step size after the warm-up
 * @divergent: trajectories after the warm-up whose energy blew up
 * @n_grad: full-data gradients computed
 */
struct bnn_stats {
	double nll, kl, accuracy, mean_sigma;
	unsigned n_weights;
	double accept, step;
	unsigned divergent;
	unsigned long n_grad;
};

/*
 * Train a BNN (tanh hidden layers, softmax output) on @n points @x
 * [n][dims[0]] with labels @y (classes = last dim) and return it as a GAUSS
 * libbnnacc model with the inputs normalised to zero mean and unit std
 * (stored in the model). Returns 0 or -errno.
 */
int bnn_train(const struct bnn_cfg *cfg, const float *x, const int *y,
	      unsigned n, struct bnnacc_model **out, struct bnn_stats *st);

/*
 * The same network family sampled from its posterior (prior N(0,
 * prior_sigma^2) on every weight, the softmax likelihood of all @n points)
 * by Hamiltonian Monte Carlo (mcmc.c): a start found by Adam on the
 * posterior density, then a warm-up that adapts the leapfrog step size by
 * dual averaging towards @accept and a diagonal mass matrix from the
 * warm-up's spread, then @n_samples kept every @thin iterations, returned
 * as a SAMPLES model (inputs normalised as bnn_train() does). Returns 0 or
 * -errno (-EINVAL: arguments, shapes or labels; -EDOM: the start's energy
 * is not finite; -ENOMEM).
 */
int bnn_sample(const struct bnn_cfg *cfg, const float *x, const int *y,
	       unsigned n, struct bnnacc_model **out, struct bnn_stats *st);

/* ---------------------------------------------------------------------- */
/* the network both trainers use                                           */
/* ---------------------------------------------------------------------- */

/**
 * struct bnn_net - shapes of a network: tanh hidden layers, softmax output
 * @nl, @dims: layers and their n_layers + 1 sizes
 * @off: offset of layer l's weights [n_out][n_in + 1] (bias last) in the
 *	one vector of all weights; @np = off[nl] weights in all
 * @aoff: offset of layer l's outputs in an activation buffer of @na
 * @maxd: the largest size
 */
struct bnn_net {
	unsigned nl, dims[BNN_MAX_LAYERS + 1], maxd;
	size_t off[BNN_MAX_LAYERS + 1], aoff[BNN_MAX_LAYERS + 1];
	size_t np, na;
};

/* Shapes of @cfg's network (its dims, or the default). 0 or -EINVAL. */
int bnn_net_init(struct bnn_net *nt, const struct bnn_cfg *cfg);
/*
 * The defaults both trainers share, into @cfg: @steps Adam steps unless
 * given, batch 128 (at most @n), step size 0.01, prior sigma 1.
 */
void bnn_cfg_common(struct bnn_cfg *cfg, unsigned n, unsigned steps);
/* Doubles of scratch bnn_net_loss() and bnn_net_probs() need. */
size_t bnn_net_work(const struct bnn_net *nt);
/*
 * Sum over @n normalised points @xn [n][dims[0]] of the negative
 * log-likelihood of labels @y under weights @w; when @g is not NULL, adds
 * @scale times its gradient to @g. @work: bnn_net_work() doubles.
 */
double bnn_net_loss(const struct bnn_net *nt, const double *w,
		    const double *xn, const int *y, unsigned n, double scale,
		    double *g, double *work);
/* Softmax output @p [dims[nl]] of one normalised point @x0. */
void bnn_net_probs(const struct bnn_net *nt, const double *w,
		   const double *x0, double *p, double *work);
/*
 * Normalise @n points @x [n][nin]: @mean, @scale get each input's mean and
 * 1 / std (1 for a constant input), @xn the normalised points.
 */
void bnn_normalise(const float *x, unsigned n, unsigned nin, double *xn,
		   double *mean, double *scale);
/*
 * A model of @nt's shapes (tanh hidden, softmax last) of @kind with
 * @n_samples (SAMPLES) and the input normalisation @mean, @scale; the
 * weights left zero. Returns 0 or -errno.
 */
int bnn_model_new(const struct bnn_net *nt, uint32_t kind, unsigned n_samples,
		  const double *mean, const double *scale,
		  struct bnnacc_model **out);

/* ---------------------------------------------------------------------- */
/* metrics                                                                 */
/* ---------------------------------------------------------------------- */

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
