// The page's one script tag loads this classic script; it starts the client, a set of ES modules
// under /js/ (main.js imports the rest). No build step: the browser resolves the imports.
'use strict';

import('/js/main.js');
