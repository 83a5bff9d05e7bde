import { MemoryStore } from '../../../task/store/memory.ts';
import { describeStoreContract } from './contract.ts';

describeStoreContract('MemoryStore', () => new MemoryStore());
