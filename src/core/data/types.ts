// The in-memory image dataset every loader returns: uint8 pixels in NHWC order, optional labels and captions.

export interface ImageDataset {
  /** e.g. "fashion-mnist/train", "shapes", "folder:/path". */
  name: string;
  height: number;
  width: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: number;
  /** Number of images. */
  n: number;
  /** n * height * width * channels values in 0..255, NHWC. */
  images: Uint8Array;
  /** Class index per image, when the dataset has classes. */
  labels?: Int32Array;
  /** Names of the classes, indexed by label. */
  classNames?: string[];
  /** A short English caption per image, when the dataset has them. */
  captions?: string[];
}
