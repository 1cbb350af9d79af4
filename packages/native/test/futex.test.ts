import { futexSuite } from './futex-suite.js';

futexSuite('ring');
