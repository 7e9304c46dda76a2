/** What `rustless export` produced, shared by the writer of the files and of their README. */
export type ExportKind = 'knative' | 'deployment';

export interface ExportedApp {
  name: string;
  build: number;
  image: string;
  architecture: string;
  /** Set when the image was saved rather than pushed. */
  archive?: string;
  files: string[];
}
