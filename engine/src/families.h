/* Kernel families, in lookup order. Each kernels/<dir>/<family>.c defines eg_ops_<family>[],
 * terminated by an entry whose name is NULL. */
FAMILY(matmul)
FAMILY(softmax)
FAMILY(elementwise)
FAMILY(reduce)
FAMILY(conv)
FAMILY(pool)
FAMILY(norm)
FAMILY(resize)
FAMILY(quant)
FAMILY(shape)
FAMILY(rnn)
FAMILY(control)
