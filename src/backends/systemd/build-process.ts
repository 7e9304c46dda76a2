/**
 * The entry of the child process each systemd build runs in (build-in-child.ts says why): it
 * serves one build with buildImage, then exits.
 */
import { serveBuild } from '../build-in-child.js';
import { buildImage } from './image-build.js';

serveBuild(buildImage);
