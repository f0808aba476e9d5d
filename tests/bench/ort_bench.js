#!/usr/bin/env node
// ort_bench.js: time a model with ONNX Runtime (onnxruntime-node) the way `emberctl bench`
// times it with ember, and print the same CSV header and row, so compare.sh can set the two
// side by side.
//
// One thread by default (intraOpNumThreads = interOpNumThreads = 1, sequential execution;
// --threads N sets intraOpNumThreads, the threads one run is split across), all graph
// optimizations. Inputs are .npy files, given as for emberctl (-i FILE in the model's input
// order, or -i NAME=FILE). Untimed warm-up runs, then timed runs of session.run, each measured
// with process.hrtime.bigint (so the Node binding's per-call cost is included). p50 and p90
// interpolate linearly between sorted samples, as emberctl bench does. Peak RSS is
// process.resourceUsage().maxRSS, which includes Node.js itself.
//
// onnxruntime-node is found through NODE_PATH; compare.sh installs it in a scratch folder.
'use strict';

const fs = require('fs');

const USAGE = `Usage: ort_bench.js MODEL -i [NAME=]FILE.npy [-i ...] [--iters N] [--warmup N]
                    [--threads N] [--format text|csv]

Time MODEL with ONNX Runtime (one thread unless --threads) and print p50, p90 and min run time in
milliseconds and the process's peak RSS in kB; --format csv prints the header
model,threads,p50_ms,p90_ms,min_ms,peak_rss_kb and one row, as 'emberctl bench' does.
Every model input must be given as a .npy file (<f4 <i8 <i4 |i1 |u1 |b1, C order).

Options:
  -i, --input [NAME=]FILE   an input tensor (repeatable)
  -n, --iters N             timed runs (default 50, at least 1)
  -w, --warmup N            untimed runs before timing (default 5)
  -t, --threads N           intra-op threads for one run (default 1, at most 256)
  -f, --format FMT          'text' (default) or 'csv'
  -h, --help                show this help and exit

onnxruntime-node must be resolvable (NODE_PATH=DIR/node_modules).
Exit status: 0 on success, 2 for a usage error, a missing onnxruntime-node, an
unreadable model or input, or a failed inference.`;

function die(msg) {
    process.stderr.write(`ort_bench: ${msg}\n`);
    process.exit(2);
}

function parseCount(opt, s, min) {
    if (!/^[0-9]+$/.test(s) || Number(s) < min || Number(s) > 1000000)
        die(`${opt} wants a whole number from ${min} to 1000000, not '${s}'`);
    return Number(s);
}

function parseArgs(argv) {
    const a = { inputs: [], iters: 50, warmup: 5, threads: 1, csv: false, model: null };
    const positional = [];
    for (let i = 0; i < argv.length; i++) {
        let arg = argv[i];
        let value = null;
        const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
        if (eq > 0) {
            value = arg.slice(eq + 1);
            arg = arg.slice(0, eq);
        }
        const need = () => {
            if (value !== null)
                return value;
            if (i + 1 >= argv.length)
                die(`option '${arg}' needs a value`);
            return argv[++i];
        };
        switch (arg) {
        case '-h': case '--help': console.log(USAGE); process.exit(0); break;
        case '-i': case '--input': a.inputs.push(need()); break;
        case '-n': case '--iters': a.iters = parseCount('--iters', need(), 1); break;
        case '-w': case '--warmup': a.warmup = parseCount('--warmup', need(), 0); break;
        case '-t': case '--threads': {
            a.threads = parseCount('--threads', need(), 1);
            if (a.threads > 256)
                die(`--threads wants a whole number from 1 to 256, not '${a.threads}'`);
            break;
        }
        case '-f': case '--format': {
            const f = need();
            if (f !== 'csv' && f !== 'text')
                die(`--format is 'text' or 'csv', not '${f}'`);
            a.csv = f === 'csv';
            break;
        }
        default:
            if (arg.startsWith('-') && arg !== '-')
                die(`unknown option '${arg}'`);
            positional.push(arg);
        }
    }
    if (positional.length !== 1)
        die('give exactly one MODEL');
    a.model = positional[0];
    return a;
}

const NPY_TYPES = {
    '<f4': ['float32', Float32Array],
    '<i8': ['int64', BigInt64Array],
    '<i4': ['int32', Int32Array],
    '|i1': ['int8', Int8Array],
    '|u1': ['uint8', Uint8Array],
    '|b1': ['bool', Uint8Array],
};

// Read a .npy file (format 1.0-3.0, little-endian, C order) as { type, dims, data }.
function readNpy(path) {
    let buf;
    try {
        buf = fs.readFileSync(path);
    } catch (e) {
        die(`cannot read ${path}: ${e.message}`);
    }
    const bad = (why) => die(`${path}: not a usable .npy file: ${why}`);
    if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY')
        bad('no NUMPY magic');
    const major = buf.readUInt8(6);
    let hlen, hstart;
    if (major === 1) {
        hlen = buf.readUInt16LE(8);
        hstart = 10;
    } else if (major === 2 || major === 3) {
        if (buf.length < 12)
            bad('truncated header');
        hlen = buf.readUInt32LE(8);
        hstart = 12;
    } else {
        bad(`format version ${major}`);
    }
    if (hstart + hlen > buf.length)
        bad('truncated header');
    const header = buf.toString(major === 3 ? 'utf8' : 'latin1', hstart, hstart + hlen);
    const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
    const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
    const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
    if (!descr || !fortran || !shape)
        bad('header lacks descr, fortran_order or shape');
    if (fortran[1] === 'True')
        bad('Fortran order');
    const t = NPY_TYPES[descr[1]];
    if (!t)
        bad(`dtype ${descr[1]}`);
    const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
    if (dims.some((d) => !Number.isInteger(d) || d < 0))
        bad(`shape (${shape[1]})`);
    const count = dims.reduce((n, d) => n * d, 1);
    const start = hstart + hlen;
    const nbytes = count * t[1].BYTES_PER_ELEMENT;
    if (buf.length - start !== nbytes)
        bad(`${buf.length - start} data bytes for ${count} elements`);
    // Copy into a fresh, aligned ArrayBuffer: a Buffer's offset need not suit a typed array.
    const ab = new ArrayBuffer(nbytes);
    new Uint8Array(ab).set(buf.subarray(start, start + nbytes));
    return { type: t[0], dims, data: new t[1](ab) };
}

function quantile(sorted, p) {
    const pos = p * (sorted.length - 1);
    const lo = Math.floor(pos);
    if (lo >= sorted.length - 1)
        return sorted[sorted.length - 1];
    return sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]);
}

function csvField(s) {
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    let ort;
    try {
        ort = require('onnxruntime-node');
    } catch (e) {
        die(`cannot load onnxruntime-node (set NODE_PATH to its node_modules): ${e.message}`);
    }
    let session;
    try {
        session = await ort.InferenceSession.create(a.model, {
            intraOpNumThreads: a.threads,
            interOpNumThreads: 1,
            executionMode: 'sequential',
            graphOptimizationLevel: 'all',
        });
    } catch (e) {
        die(`${a.model}: ${e.message}`);
    }

    const names = session.inputNames;
    const files = new Array(names.length).fill(null);
    let next = 0;
    for (const arg of a.inputs) {
        const eq = arg.indexOf('=');
        let idx;
        let file = arg;
        if (eq > 0 && names.includes(arg.slice(0, eq))) {
            idx = names.indexOf(arg.slice(0, eq));
            file = arg.slice(eq + 1);
        } else {
            while (next < names.length && files[next] !== null)
                next++;
            idx = next;
            if (idx >= names.length)
                die(`more inputs given than the model's ${names.length}`);
        }
        if (files[idx] !== null)
            die(`input '${names[idx]}' given twice`);
        files[idx] = file;
    }
    const feeds = {};
    names.forEach((name, i) => {
        if (files[i] === null)
            die(`no file for input '${name}' (${names.length} inputs needed)`);
        const t = readNpy(files[i]);
        feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    });

    const ms = [];
    try {
        for (let i = 0; i < a.warmup + a.iters; i++) {
            const t0 = process.hrtime.bigint();
            await session.run(feeds);
            const t1 = process.hrtime.bigint();
            if (i >= a.warmup)
                ms.push(Number(t1 - t0) / 1e6);
        }
    } catch (e) {
        die(`${a.model}: ${e.message}`);
    }
    const rss = process.resourceUsage().maxRSS;
    ms.sort((x, y) => x - y);
    const [p50, p90, min] = [quantile(ms, 0.5), quantile(ms, 0.9), ms[0]].map((v) => v.toFixed(5));
    if (a.csv) {
        console.log('model,threads,p50_ms,p90_ms,min_ms,peak_rss_kb');
        console.log(`${csvField(a.model)},${a.threads},${p50},${p90},${min},${rss}`);
    } else {
        console.log(`model:      ${a.model}
runtime:    onnxruntime-node ${ort.env.versions ? ort.env.versions.node : '?'}
threads:    ${a.threads}
runs:       ${a.iters} timed after ${a.warmup} warm-up
p50:        ${p50} ms
p90:        ${p90} ms
min:        ${min} ms
peak RSS:   ${rss} kB`);
    }
}

main();
